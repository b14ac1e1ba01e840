import type { Tx } from '../../lib/db';
import { applyWalletChange } from '../credits/apply-wallet-change';
import { withRefundKeys } from './charge-refund-keys';
import { disputedCredits } from './disputed-credits';
import { holdOpenDisputes } from './hold-disputed-credits';
import { lockPurchaseWallet } from './lock-purchase-wallet';
import { lockPaymentIntent } from './payment-intent-lock';
import type { RefundCause } from './refund-purchase';
import { restoreWaitingFailure } from './refund-rounds';
import { takeLostDisputes } from './take-lost-disputes';

export interface PaidSession {
  sessionId: string;
  paymentIntentId: string | null;
  traceId?: string;
}

export type FulfilOutcome =
  /** Credits granted now (or a missing grant repaired). */
  | { kind: 'granted'; shopId: string; credits: number }
  /** Already granted: nothing changed. */
  | { kind: 'already_granted'; shopId: string }
  /** Refunded before or after payment: nothing (more) to grant. */
  | { kind: 'refunded'; shopId: string }
  /** No purchase recorded for this session (not ours, or another environment's). */
  | { kind: 'no_purchase' };

interface PurchaseRow {
  id: string;
  shop_id: string;
  credits: number;
  amount: number;
  status: 'pending' | 'paid' | 'refunded' | 'expired';
}

/**
 * Grants a paid Checkout Session's credits, once per session, in the
 * caller's transaction. The purchase row is the source of truth: the guarded
 * pending → paid UPDATE happens once, and the ledger key
 * `purchase-<sessionId>` makes the grant itself happen once. A paid purchase
 * whose ledger row is missing gets it now (repair), so this never trusts an
 * event's "processed" flag. A refund seen before the payment (events out of
 * order) marks the purchase refunded and grants nothing: net zero (unless
 * that refund's failure was processed too: then the pack is granted, and a
 * later refund of the payment seen meanwhile takes it); a
 * dispute seen before the payment holds the credits granted now, or, lost
 * for part of the pack, takes its share of them. The shop's
 * wallet is locked before the purchase (lockPurchaseWallet), the order every
 * path that changes both takes.
 */
export async function fulfilCheckoutSession(tx: Tx, s: PaidSession): Promise<FulfilOutcome> {
  if (s.paymentIntentId) await lockPaymentIntent(tx, s.paymentIntentId);
  if (!(await lockPurchaseWallet(tx, { sessionId: s.sessionId }))) return { kind: 'no_purchase' };
  const [p] = await tx.$queryRaw<PurchaseRow[]>`
    SELECT id, shop_id, credits, amount, status FROM purchases WHERE stripe_session_id = ${s.sessionId} FOR UPDATE`;
  if (!p) return { kind: 'no_purchase' };

  let status = p.status;
  let restoredGrant = false;
  if (status === 'pending' || status === 'expired') {
    const refund = s.paymentIntentId ? await refundAlreadyReceived(tx, s.paymentIntentId, p) : null;
    if (s.paymentIntentId && refund) {
      await tx.$executeRaw`
        UPDATE purchases SET status = 'refunded', refund_cause = ${refund.cause}, refunded_at = now(), updated_at = now(),
               refund_keys = ${withRefundKeys(refund.cause === 'refund' ? refund.keys : [])},
               refund_made_at = ${refund.cause === 'refund' ? refund.madeAt : null}::timestamptz,
               stripe_payment_intent_id = COALESCE(stripe_payment_intent_id, ${s.paymentIntentId})
         WHERE id = ${p.id}::uuid AND status IN ('pending', 'expired')`;
      // That refund's failure, processed before this completion, grants the pack now (the end of Stripe's order);
      // the purchase is then paid, and open disputes hold it below as for any grant.
      const restore = refund.cause === 'refund' ? await restoreWaitingFailure(tx, { paymentIntentId: s.paymentIntentId, refundMadeAt: refund.madeAt, refundKeys: refund.keys, traceId: s.traceId }) : null;
      if (restore?.kind !== 'restored') return { kind: 'refunded', shopId: p.shop_id };
      restoredGrant = true;
      status = 'paid';
    } else {
      const moved = await tx.$executeRaw`
        UPDATE purchases SET status = 'paid', granted_at = now(), updated_at = now(),
               stripe_payment_intent_id = COALESCE(stripe_payment_intent_id, ${s.paymentIntentId})
         WHERE stripe_session_id = ${s.sessionId} AND status IN ('pending', 'expired')`;
      if (moved === 1) status = 'paid';
    }
  }
  if (status === 'refunded') return { kind: 'refunded', shopId: p.shop_id };
  if (status !== 'paid') return { kind: 'already_granted', shopId: p.shop_id };

  const change = await applyWalletChange(tx, {
    shopId: p.shop_id,
    type: 'purchase',
    amount: p.credits,
    idempotencyKey: `purchase-${s.sessionId}`,
    reference: `stripe:${s.sessionId}`,
    traceId: s.traceId,
  });
  // A dispute of this payment opened before the grant (its event came first) holds what was just granted;
  // one lost for part of the price takes its share of it. Under the payment intent's lock, taken above.
  if (s.paymentIntentId) {
    await holdOpenDisputes(tx, { shopId: p.shop_id, credits: p.credits, price: p.amount, paymentIntentId: s.paymentIntentId });
    await takeLostDisputes(tx, { paymentIntentId: s.paymentIntentId, traceId: s.traceId });
  }
  return change.applied || restoredGrant ? { kind: 'granted', shopId: p.shop_id, credits: p.credits } : { kind: 'already_granted', shopId: p.shop_id };
}

/**
 * The full refund (or lost dispute of the whole pack) of this payment seen
 * before its completion; a lost dispute first, as it stands whatever a
 * refund does later. A dispute lost for part of the pack is not one: the
 * pack is granted and the loss takes its share (takeLostDisputes). Its
 * closing recorded the dispute, lost, in the transaction that marked it.
 */
async function refundAlreadyReceived(
  tx: Tx,
  paymentIntentId: string,
  p: { credits: number; amount: number },
): Promise<{ cause: Extract<RefundCause, 'dispute'> } | { cause: Extract<RefundCause, 'refund'>; madeAt: Date; keys: string[] } | null> {
  const lost = await tx.$queryRaw<{ amount: number | null }[]>`
    SELECT amount FROM stripe_disputes WHERE stripe_payment_intent_id = ${paymentIntentId} AND status = 'lost'`;
  if (lost.some((d) => disputedCredits({ credits: p.credits, price: p.amount }, d.amount) >= p.credits)) return { cause: 'dispute' };
  // The first refund Stripe made (a charge is refunded anew only once the refund before failed) takes the pack now,
  // named by its keys, so a replay of it, after its failure gives the pack back, takes nothing. A later one stays
  // unnamed: if the first one's failure gives the pack back, that refund takes it then (takeUnappliedRefund).
  const [row] = await tx.$queryRaw<{ made_at: Date; keys: string[] }[]>`
    SELECT made_at, stripe_charge_refund_keys(event_id, payload) AS keys
      FROM (SELECT event_id, payload,
                   CASE WHEN jsonb_typeof(payload->'created') = 'number' THEN to_timestamp((payload->>'created')::double precision) ELSE received_at END AS made_at
              FROM webhook_events
             WHERE provider = 'stripe' AND topic = 'charge.refunded'
               AND payload->'data'->'object'->>'payment_intent' = ${paymentIntentId}
               AND COALESCE((payload->'data'->'object'->>'refunded')::boolean, false)) e
     ORDER BY made_at, event_id
     LIMIT 1`;
  return row ? { cause: 'refund', madeAt: row.made_at, keys: row.keys } : null;
}
