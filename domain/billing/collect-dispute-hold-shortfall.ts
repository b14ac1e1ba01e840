import type { Tx } from '../../lib/db';
import { disputeHoldKey } from './purchase-keys';

interface OwedRow {
  stripe_dispute_id: string;
  hold_shortfall: bigint;
}

/**
 * An open dispute's hold never takes credits a reservation holds; what it
 * could not take is the dispute's `hold_shortfall`. When such a reservation
 * gives credits back, they were the disputed ones: they go into the hold
 * (its amount and `reserved` rise together, so they stay unspendable) before
 * the merchant can spend them, in the releasing transaction, as refunds are
 * paid (collectRefundShortfall and collectDisputeLossShortfall, which run
 * first: a refund or a lost dispute is owed for good, an open dispute may
 * still be won). Only disputes held while the reservation
 * existed (`held_at >= reservedSince`); oldest first. The caller holds the
 * shop's wallet lock, which every dispute event (opening, closing, a refund
 * taking the hold, and their repeats) takes before the dispute's row: this
 * waits for no dispute lock of theirs and reads each dispute as they
 * committed it. Moves no balance: no ledger row. Returns the credits moved
 * into holds.
 */
export async function collectDisputeHoldShortfall(tx: Tx, r: { shopId: string; freed: number; reservedSince: Date }): Promise<number> {
  if (r.freed <= 0) return 0;
  const owed = await tx.$queryRaw<OwedRow[]>`
    SELECT stripe_dispute_id, hold_shortfall FROM stripe_disputes
     WHERE shop_id = ${r.shopId}::uuid AND status = 'open' AND hold_shortfall > 0 AND held_at >= ${r.reservedSince}
     ORDER BY held_at, stripe_dispute_id
       FOR UPDATE`;
  let left = r.freed;
  for (const d of owed) {
    if (left === 0) break;
    const before = Number(d.hold_shortfall);
    const take = Math.min(left, before);
    // The release just lowered `reserved` by `freed`, so raising it by `take` keeps reserved <= balance.
    const moved = await tx.$executeRaw`
      WITH hold AS (
        UPDATE credit_reservations SET amount = amount + ${take}::bigint, updated_at = now()
         WHERE shop_id = ${r.shopId}::uuid AND reservation_key = ${disputeHoldKey(d.stripe_dispute_id)} AND status = 'active'
        RETURNING shop_id
      )
      UPDATE credit_wallets w SET reserved = w.reserved + ${take}::bigint, updated_at = now() FROM hold WHERE w.shop_id = hold.shop_id`;
    // No active hold (released by hand): nothing to pay into.
    if (moved === 0) continue;
    await tx.$executeRaw`
      UPDATE stripe_disputes SET hold_shortfall = hold_shortfall - ${take}::bigint, updated_at = now()
       WHERE stripe_dispute_id = ${d.stripe_dispute_id} AND hold_shortfall = ${before}::bigint`;
    left -= take;
  }
  return r.freed - left;
}
