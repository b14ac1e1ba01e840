import type { Tx } from '../../lib/db';
import { releaseReservation } from '../credits/reservations';
import { lockPurchaseWallet } from './lock-purchase-wallet';
import { lockPaymentIntent } from './payment-intent-lock';
import { disputeHoldKey } from './purchase-keys';
import { takeLostDisputes, type LostDisputeTake } from './take-lost-disputes';

export type CloseDisputeOutcome =
  /** Lost: the disputed share of the pack taken (or the rest of it, as a full refund takes it), the hold first; nothing when taken before. No shop: no purchase carries the payment yet. */
  | { kind: 'lost'; shopId: string | null; takes: LostDisputeTake[] }
  /** Won (or closed any other way): what the hold still held is the merchant's again. */
  | { kind: 'released'; shopId: string | null; released: number }
  /** Closed before: nothing more to do. */
  | { kind: 'already_closed'; shopId: string | null };

/**
 * `charge.dispute.closed`. The dispute is recorded closed once (the guarded
 * upsert moves only an `open` row; a closing seen before the opening inserts
 * it closed, so that opening holds nothing). Lost: the disputed amount went
 * back to the card holder, so the pack's share of it goes
 * (takeLostDisputes: the share the hold was sized to, the hold first, in
 * one ledger row, never twice; a dispute of the rest of the pack is a full
 * claw-back, cause `dispute`); the rest of the pack stays the merchant's. A
 * repeated lost event finds the loss taken. Won, `warning_closed` or any
 * other end: the merchant keeps the money, so the hold is released
 * (releaseReservation: credits a refund is owed since the hold was made pay
 * it first, as for any release). Under the payment intent's lock, then the
 * shop's wallet's, before the dispute's row (lockPurchaseWallet): a release
 * waits for the closing, so a repeated closing never makes one miss what it
 * owes the loss or the hold.
 */
export async function closeDispute(
  tx: Tx,
  d: { disputeId: string; paymentIntentId: string; status: string; amount: number | null; traceId?: string },
): Promise<CloseDisputeOutcome> {
  const outcome = d.status === 'lost' ? 'lost' : 'won';
  await lockPaymentIntent(tx, d.paymentIntentId);
  // No purchase (yet): the dispute is recorded with no shop, which no release reads.
  const wallet = await lockPurchaseWallet(tx, { paymentIntentId: d.paymentIntentId });
  const [closed] = await tx.$queryRaw<{ shop_id: string | null }[]>`
    INSERT INTO stripe_disputes (stripe_dispute_id, stripe_payment_intent_id, status, amount, closed_at)
    VALUES (${d.disputeId}, ${d.paymentIntentId}, ${outcome}, ${d.amount}::int, now())
    ON CONFLICT (stripe_dispute_id) DO UPDATE
       SET status = EXCLUDED.status, closed_at = EXCLUDED.closed_at, hold_shortfall = 0, updated_at = now()
     WHERE stripe_disputes.status = 'open'
    RETURNING shop_id`;
  if (wallet) await tx.$executeRaw`UPDATE stripe_disputes SET shop_id = ${wallet.shopId}::uuid WHERE stripe_dispute_id = ${d.disputeId} AND shop_id IS NULL`;

  if (outcome === 'lost') {
    // No purchase yet: the completion takes the loss (fulfil-checkout-session.ts).
    if (!wallet) return { kind: 'lost', shopId: null, takes: [] };
    return { kind: 'lost', shopId: wallet.shopId, takes: await takeLostDisputes(tx, { paymentIntentId: d.paymentIntentId, traceId: d.traceId }) };
  }
  const shopId = closed?.shop_id ?? wallet?.shopId ?? null;
  if (!closed) return { kind: 'already_closed', shopId };
  if (closed.shop_id === null) return { kind: 'released', shopId, released: 0 };
  const [hold] = await tx.$queryRaw<{ id: string }[]>`
    SELECT id FROM credit_reservations WHERE shop_id = ${closed.shop_id}::uuid AND reservation_key = ${disputeHoldKey(d.disputeId)}`;
  const released = hold ? await releaseReservation(tx, hold.id) : 0;
  return { kind: 'released', shopId, released };
}
