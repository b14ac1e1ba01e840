import type { Tx } from '../../lib/db';
import { applyWalletChange } from '../credits/apply-wallet-change';
import { disputeLostRestKey } from './purchase-keys';

interface OwedRow {
  stripe_dispute_id: string;
  loss_shortfall: bigint;
  stripe_session_id: string;
}

/**
 * A dispute lost for part of a pack never takes credits a reservation
 * holds; what its share could not take is the dispute's `loss_shortfall`.
 * When such a reservation gives credits back, they were the disputed ones:
 * they pay it before the merchant can spend them, in the releasing
 * transaction, as a refund's shortfall is paid (collectRefundShortfall runs
 * first; then this; then open disputes' holds, which may still be won).
 * Only disputes lost while the reservation existed (`loss_taken_at >=
 * reservedSince`), oldest first. Each payment is a ledger row keyed
 * `dispute-<id>-lost-rest-<shortfall before>` (it only falls, so the key
 * never recurs) and the guarded decrement. The caller holds the shop's
 * wallet lock, which every path that sets or changes a loss takes before
 * the dispute's row: this waits for none of theirs. Returns the credits
 * collected.
 */
export async function collectDisputeLossShortfall(tx: Tx, r: { shopId: string; freed: number; reservedSince: Date }): Promise<number> {
  if (r.freed <= 0) return 0;
  const owed = await tx.$queryRaw<OwedRow[]>`
    SELECT d.stripe_dispute_id, d.loss_shortfall, p.stripe_session_id
      FROM stripe_disputes d JOIN purchases p ON p.stripe_payment_intent_id = d.stripe_payment_intent_id
     WHERE d.shop_id = ${r.shopId}::uuid AND d.loss_shortfall > 0 AND d.loss_taken_at >= ${r.reservedSince}
     ORDER BY d.loss_taken_at, d.stripe_dispute_id
       FOR UPDATE OF d`;
  let left = r.freed;
  for (const d of owed) {
    if (left === 0) break;
    const before = Number(d.loss_shortfall);
    const take = Math.min(left, before);
    // The release just made `take` available (balance − reserved rose by `freed`), so the wallet's CHECKs hold.
    await applyWalletChange(tx, {
      shopId: r.shopId,
      type: 'refund',
      amount: -take,
      idempotencyKey: disputeLostRestKey(d.stripe_dispute_id, before),
      reference: `stripe:${d.stripe_session_id}`,
    });
    await tx.$executeRaw`
      UPDATE stripe_disputes SET loss_shortfall = loss_shortfall - ${take}::bigint, updated_at = now()
       WHERE stripe_dispute_id = ${d.stripe_dispute_id} AND loss_shortfall = ${before}::bigint`;
    left -= take;
  }
  return r.freed - left;
}
