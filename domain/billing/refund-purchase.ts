import { clawBackSplit } from './claw-back-split';
import type { Tx } from '../../lib/db';
import { withRefundKeys } from './charge-refund-keys';
import { applyWalletChange } from '../credits/apply-wallet-change';
import { lockPurchaseWallet } from './lock-purchase-wallet';
import { lostDisputeCredits } from './lost-dispute-credits';
import { lockPaymentIntent } from './payment-intent-lock';
import { refundKey } from './purchase-keys';

export type RefundOutcome =
  /** `credits`: what this claw-back claims (the pack less what partly lost disputes took); `clawedBack` of it now, `shortfall` owed. */
  | { kind: 'clawed_back'; shopId: string; purchaseId: string; credits: number; clawedBack: number; fromHold: number; shortfall: number }
  /** Refunded before it was paid for (or before fulfilment ran): nothing granted, nothing to take. */
  | { kind: 'marked_refunded'; shopId: string; purchaseId: string }
  | { kind: 'already_refunded'; shopId: string; purchaseId: string }
  /** A refund that took the pack before (its keys in refund_keys, or its failure in failed_refund_ids), since undone: taken not again. */
  | { kind: 'already_undone'; shopId: string; purchaseId: string }
  /** No purchase carries this payment intent yet; a later completion will see the refund event. */
  | { kind: 'no_purchase' };

/** What took a purchase's credits (purchases.refund_cause): only a refund's claw-back is undone when the refund fails. */
export type RefundCause = 'refund' | 'dispute';

interface PurchaseRow {
  id: string;
  shop_id: string;
  stripe_session_id: string;
  credits: number;
  status: 'pending' | 'paid' | 'refunded' | 'expired';
  round: number;
  seen: boolean;
}

interface HoldRow {
  id: string;
  left: bigint;
}

/**
 * Claws a refunded purchase's credits back, once per refund round (guarded
 * paid → refunded and ledger key refundKey(session, round)): the pack less
 * what disputes lost for part of it already took (lostDisputeCredits), so
 * no credit of the pack is taken twice. What a dispute
 * of the payment holds goes first: the hold is consumed by the same ledger
 * row (balance and reserved fall together), so a lost dispute, or a refund
 * while a dispute is open, takes those credits once. Then at most
 * `balance - reserved`: credits campaigns hold are never taken, and the rest
 * is recorded on the purchase as `refund_shortfall` (the dispute's own
 * shortfall moves there too), which released reservations pay
 * (collectRefundShortfall). The shop's wallet is locked before the
 * purchase (lockPurchaseWallet: the order every path takes, releases too),
 * so a concurrent reservation cannot slip in between the computation and
 * the debit, and a release waits for this refund, then pays the shortfall
 * it recorded (a duplicate of this event, finding the purchase refunded,
 * holds the wallet as briefly and takes nothing). `refundKeys` name the
 * refund (chargeRefundKeys): they join `refund_keys` when it takes the
 * pack, and a refund whose keys are all there, or whose failure gave the
 * pack back (`failed_refund_ids`), takes nothing again once the purchase is
 * paid (a replay of its processed event, or Stripe sending it again).
 * `madeAt`, Stripe's time of the refund's event, is kept with the take
 * (`refund_made_at`): a failure is only this take's if its refund was made
 * by then (restoreFailedRefund).
 */
export async function refundPurchaseByPaymentIntent(
  tx: Tx,
  r: { paymentIntentId: string; cause: RefundCause; refundKeys?: string[]; madeAt?: Date; traceId?: string },
): Promise<RefundOutcome> {
  const keys = r.refundKeys ?? [];
  await lockPaymentIntent(tx, r.paymentIntentId);
  const w = await lockPurchaseWallet(tx, { paymentIntentId: r.paymentIntentId });
  if (!w) return { kind: 'no_purchase' };
  const [p] = await tx.$queryRaw<PurchaseRow[]>`
    SELECT id, shop_id, stripe_session_id, credits, status, cardinality(failed_refund_ids) AS round,
           cardinality(${keys}::text[]) > 0 AND ${keys}::text[] <@ (refund_keys || failed_refund_ids) AS seen
      FROM purchases WHERE stripe_payment_intent_id = ${r.paymentIntentId} FOR UPDATE`;
  if (!p) return { kind: 'no_purchase' };
  if (p.status === 'refunded') return { kind: 'already_refunded', shopId: p.shop_id, purchaseId: p.id };
  // Its failure gave the pack back (the purchase is paid again): a replay of the refund is not a new one.
  if (p.seen) return { kind: 'already_undone', shopId: p.shop_id, purchaseId: p.id };
  if (p.status !== 'paid') {
    await tx.$executeRaw`
      UPDATE purchases SET status = 'refunded', refund_cause = ${r.cause}, refunded_at = now(), refund_keys = ${withRefundKeys(keys)},
             refund_made_at = ${r.madeAt ?? null}::timestamptz, updated_at = now()
       WHERE id = ${p.id}::uuid AND status = ${p.status}`;
    return { kind: 'marked_refunded', shopId: p.shop_id, purchaseId: p.id };
  }

  // Wallet (locked above: `w` is current), purchase, then the disputes and their holds: the order a release takes them in.
  const holds = await tx.$queryRaw<HoldRow[]>`
    SELECT r.id, r.amount - r.consumed - r.released AS left
      FROM stripe_disputes d
      JOIN credit_reservations r ON r.shop_id = ${p.shop_id}::uuid AND r.reservation_key = 'dispute-' || d.stripe_dispute_id
     WHERE d.stripe_payment_intent_id = ${r.paymentIntentId} AND r.status = 'active'
     ORDER BY d.held_at, d.stripe_dispute_id
       FOR UPDATE OF d, r`;
  const held = holds.reduce((s, h) => s + Number(h.left), 0);
  const claim = p.credits - (await lostDisputeCredits(tx, r.paymentIntentId));
  const { fromHold, clawedBack, shortfall } = clawBackSplit(claim, held, w.balance - w.reserved);
  if (clawedBack > 0) {
    const change = await applyWalletChange(tx, {
      shopId: p.shop_id,
      type: 'refund',
      amount: -clawedBack,
      idempotencyKey: refundKey(p.stripe_session_id, p.round),
      reference: `stripe:${p.stripe_session_id}`,
      traceId: r.traceId,
      // The holds end here: what they give beyond the pack (never, for one dispute) is the merchant's again.
      reservedDelta: -held,
    });
    // The purchase was `paid` under its lock, so its key of this round is unused; a replay here would leave the holds half-closed.
    if (!change.applied) throw new Error(`refund ledger key of purchase ${p.id} round ${p.round} already used`);
  }
  let owed = fromHold;
  for (const h of holds) {
    const left = Number(h.left);
    const take = Math.min(left, owed);
    owed -= take;
    await tx.$executeRaw`
      UPDATE credit_reservations SET consumed = consumed + ${take}::bigint, released = released + ${left - take}::bigint, status = 'closed', updated_at = now()
       WHERE id = ${h.id}::uuid AND status = 'active'`;
  }
  await tx.$executeRaw`
    UPDATE stripe_disputes SET hold_shortfall = 0, updated_at = now()
     WHERE stripe_payment_intent_id = ${r.paymentIntentId} AND hold_shortfall > 0`;
  await tx.$executeRaw`
    UPDATE purchases SET status = 'refunded', refund_cause = ${r.cause}, refunded_at = now(), refund_shortfall = ${shortfall}::bigint,
           refund_keys = ${withRefundKeys(keys)}, refund_made_at = ${r.madeAt ?? null}::timestamptz, updated_at = now()
     WHERE id = ${p.id}::uuid AND status = 'paid'`;
  return { kind: 'clawed_back', shopId: p.shop_id, purchaseId: p.id, credits: claim, clawedBack, fromHold, shortfall };
}
