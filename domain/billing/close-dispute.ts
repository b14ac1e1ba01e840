import type { Tx } from '../../lib/db';
import { releaseReservation } from '../credits/reservations';
import { lockPurchaseWallet } from './lock-purchase-wallet';
import { lockPaymentIntent } from './payment-intent-lock';
import { refundPurchaseByPaymentIntent, type RefundOutcome } from './refund-purchase';
import { disputeHoldKey } from './purchase-keys';

export type CloseDisputeOutcome =
  /** Lost: the purchase's credits taken back as a full refund takes them, the hold first. */
  | { kind: 'lost'; refund: RefundOutcome }
  /** Won (or closed any other way): what the hold still held is the merchant's again. */
  | { kind: 'released'; shopId: string | null; released: number }
  /** Closed before: nothing more to do. */
  | { kind: 'already_closed'; shopId: string | null };

/**
 * `charge.dispute.closed`. The dispute is recorded closed once (the guarded
 * upsert moves only an `open` row; a closing seen before the opening inserts
 * it closed, so that opening holds nothing). Lost: the money went back to
 * the card holder, so the pack's credits go as for a full refund
 * (refundPurchaseByPaymentIntent, cause `dispute`), which takes the hold's
 * credits before anything available, in one ledger row, never twice; a
 * repeated lost event finds the purchase refunded. Won, `warning_closed` or
 * any other end: the merchant keeps the money, so the hold is released
 * (releaseReservation: credits a refund is owed since the hold was made pay
 * it first, as for any release). Under the payment intent's lock, then the
 * shop's wallet's, before the dispute's row (lockPurchaseWallet): a release
 * waits for the closing, so a repeated closing never makes one miss what it
 * owes the purchase (lost) or the hold.
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
    return { kind: 'lost', refund: await refundPurchaseByPaymentIntent(tx, { paymentIntentId: d.paymentIntentId, cause: 'dispute', traceId: d.traceId }) };
  }
  const shopId = closed?.shop_id ?? wallet?.shopId ?? null;
  if (!closed) return { kind: 'already_closed', shopId };
  if (closed.shop_id === null) return { kind: 'released', shopId, released: 0 };
  const [hold] = await tx.$queryRaw<{ id: string }[]>`
    SELECT id FROM credit_reservations WHERE shop_id = ${closed.shop_id}::uuid AND reservation_key = ${disputeHoldKey(d.disputeId)}`;
  const released = hold ? await releaseReservation(tx, hold.id) : 0;
  return { kind: 'released', shopId, released };
}
