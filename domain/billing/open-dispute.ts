import type { Tx } from '../../lib/db';
import { holdDisputedCredits, type DisputeHold } from './hold-disputed-credits';
import { lockPurchaseWallet } from './lock-purchase-wallet';
import { lockPaymentIntent } from './payment-intent-lock';

export type OpenDisputeOutcome =
  | { kind: 'held'; shopId: string; hold: DisputeHold }
  /** Recorded, nothing (more) to hold: already held, already closed, or the purchase is not paid (a later grant holds it; a refund took the credits). */
  | { kind: 'recorded'; shopId: string }
  /** No purchase carries this payment intent (yet): recorded; the completion holds it. */
  | { kind: 'no_purchase' };

/**
 * `charge.dispute.created` (or `funds_withdrawn`): records the dispute, open,
 * once (a closing seen first keeps it closed), and holds the disputed credits
 * of the paid purchase until it closes (holdDisputedCredits). Under the
 * payment intent's lock, as the grant and the refund are, so a completion
 * processed later sees the dispute and holds the credits it grants. Then
 * the shop's wallet is locked, before the dispute and the purchase
 * (lockPurchaseWallet): a release waits for the opening and then fills the
 * hold's shortfall, and one that came first left its credits available for
 * the hold to take.
 */
export async function openDispute(tx: Tx, d: { disputeId: string; paymentIntentId: string; amount: number | null }): Promise<OpenDisputeOutcome> {
  await lockPaymentIntent(tx, d.paymentIntentId);
  // No purchase (yet): nothing to lock; the dispute is recorded with no shop, which no release reads.
  const wallet = await lockPurchaseWallet(tx, { paymentIntentId: d.paymentIntentId });
  await tx.$executeRaw`
    INSERT INTO stripe_disputes (stripe_dispute_id, stripe_payment_intent_id, status, amount)
    VALUES (${d.disputeId}, ${d.paymentIntentId}, 'open', ${d.amount}::int)
    ON CONFLICT (stripe_dispute_id) DO NOTHING`;
  const [p] = await tx.$queryRaw<{ shop_id: string; credits: number; amount: number; status: string }[]>`
    SELECT shop_id, credits, amount, status FROM purchases WHERE stripe_payment_intent_id = ${d.paymentIntentId} FOR UPDATE`;
  if (!wallet || !p) return { kind: 'no_purchase' };
  // The shop's, from now on (its erasure takes it), whatever comes of the hold.
  await tx.$executeRaw`UPDATE stripe_disputes SET shop_id = ${p.shop_id}::uuid WHERE stripe_dispute_id = ${d.disputeId} AND shop_id IS NULL`;
  if (p.status !== 'paid') return { kind: 'recorded', shopId: p.shop_id };
  const hold = await holdDisputedCredits(tx, { shopId: p.shop_id, credits: p.credits, price: p.amount }, d.disputeId);
  return hold ? { kind: 'held', shopId: p.shop_id, hold } : { kind: 'recorded', shopId: p.shop_id };
}
