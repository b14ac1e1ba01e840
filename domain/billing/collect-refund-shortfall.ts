import type { Tx } from '../../lib/db';
import { applyWalletChange } from '../credits/apply-wallet-change';
import { refundRestKey } from './purchase-keys';

interface OwedRow {
  id: string;
  stripe_session_id: string;
  refund_shortfall: bigint;
  round: number;
}

/**
 * A refund (or lost dispute) never takes credits a reservation holds; what
 * it could not take is the purchase's `refund_shortfall`. When such a
 * reservation gives credits back (cancel, completion, expiry, by hand), they
 * were the refunded credits: they pay the shortfall before the merchant can
 * spend them again, in the releasing transaction, under the wallet lock the
 * release holds. Only purchases refunded while the reservation existed
 * (`refunded_at >= reservedSince`): credits bought and reserved after a
 * refund owe it nothing. Oldest refund first; each payment is a ledger row
 * keyed `refund-<session>-rest-<shortfall before>` (refundRestKey: the
 * shortfall only falls within a refund round, so the key never recurs) and
 * the guarded decrement of the shortfall. The caller holds the shop's
 * wallet lock, which every path that changes a purchase's refund (the
 * refund, a lost dispute, a failed refund, the completion, a dispute's
 * opening, and their repeats) takes before the purchase's row: this waits
 * for no purchase lock of theirs (none is held without the wallet) and
 * reads each purchase as they committed it. Skipping locked purchases
 * instead let freed credits become spendable whenever the lock holder was
 * not the refund that would take them (a repeated event, say). Returns the
 * credits collected.
 */
export async function collectRefundShortfall(tx: Tx, r: { shopId: string; freed: number; reservedSince: Date }): Promise<number> {
  if (r.freed <= 0) return 0;
  const owed = await tx.$queryRaw<OwedRow[]>`
    SELECT id, stripe_session_id, refund_shortfall, cardinality(failed_refund_ids) AS round FROM purchases
     WHERE shop_id = ${r.shopId}::uuid AND status = 'refunded' AND refund_shortfall > 0 AND refunded_at >= ${r.reservedSince}
     ORDER BY refunded_at, id
       FOR UPDATE`;
  let left = r.freed;
  for (const p of owed) {
    if (left === 0) break;
    const before = Number(p.refund_shortfall);
    const take = Math.min(left, before);
    // The release just made `take` available (balance − reserved rose by `freed`), so the wallet's CHECKs hold.
    await applyWalletChange(tx, {
      shopId: r.shopId,
      type: 'refund',
      amount: -take,
      idempotencyKey: refundRestKey(p.stripe_session_id, p.round, before),
      reference: `stripe:${p.stripe_session_id}`,
    });
    await tx.$executeRaw`
      UPDATE purchases SET refund_shortfall = refund_shortfall - ${take}::bigint, updated_at = now()
       WHERE id = ${p.id}::uuid AND refund_shortfall = ${before}::bigint`;
    left -= take;
  }
  return r.freed - left;
}
