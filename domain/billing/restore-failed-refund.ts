import type { Tx } from '../../lib/db';
import { applyWalletChange } from '../credits/apply-wallet-change';
import { lockPurchaseWallet } from './lock-purchase-wallet';
import { lostDisputeCredits } from './lost-dispute-credits';
import { lockPaymentIntent } from './payment-intent-lock';
import { refundRestoredKey } from './purchase-keys';
import { takeLostDisputes } from './take-lost-disputes';

export type RestoreOutcome =
  /** The refund's claw-back undone: `restored` credits back (what it and the released reservations had taken), the purchase paid again. */
  | { kind: 'restored'; shopId: string; purchaseId: string; restored: number }
  /** This refund's failure was applied before. */
  | { kind: 'already_restored'; shopId: string }
  /** Nothing of this purchase was taken by a refund: not refunded (a partial refund, or its refund event not processed yet), or taken by a lost dispute. */
  | { kind: 'not_taken'; shopId: string; status: string; cause: string | null }
  | { kind: 'no_purchase' };

interface PurchaseRow {
  id: string;
  shop_id: string;
  stripe_session_id: string;
  credits: number;
  status: string;
  refund_cause: string | null;
  refund_shortfall: bigint;
  granted_at: Date | null;
  round: number;
  seen: boolean;
}

/**
 * A refund that failed (or was cancelled) after `charge.refunded` took the
 * pack's credits: the money stayed paid, so the credits come back, once per
 * refund (its id joins `failed_refund_ids` in the guarded refunded → paid
 * UPDATE; a second event for the same refund, or a repeat, finds it there).
 * What comes back is what was taken: what the refund claimed (the pack less
 * what partly lost disputes took before it) less the shortfall still
 * unpaid (the claw-back and the `-rest-` rows that released reservations
 * paid); the shortfall is cleared. A dispute lost while the refund stood
 * takes its share once the pack is back (takeLostDisputes). A purchase refunded before its grant
 * (the refund seen by the completion) gets the grant it never had, under the
 * grant's own key, so a later completion grants nothing more. Only a
 * refund's claw-back (`refund_cause = 'refund'`) is undone: a lost dispute's
 * stands whatever a refund does. The next refund of the payment is a new
 * round with keys of its own (purchase-keys.ts). Under the payment intent's
 * lock, then the shop's wallet's, before the purchase's row
 * (lockPurchaseWallet): a release either paid the shortfall before (and this
 * gives it back) or runs after, finding the purchase paid and owing nothing.
 */
export async function restoreFailedRefund(tx: Tx, r: { refundId: string; paymentIntentId: string; traceId?: string }): Promise<RestoreOutcome> {
  await lockPaymentIntent(tx, r.paymentIntentId);
  if (!(await lockPurchaseWallet(tx, { paymentIntentId: r.paymentIntentId }))) return { kind: 'no_purchase' };
  const [p] = await tx.$queryRaw<PurchaseRow[]>`
    SELECT id, shop_id, stripe_session_id, credits, status, refund_cause, refund_shortfall, granted_at,
           cardinality(failed_refund_ids) AS round, ${r.refundId} = ANY(failed_refund_ids) AS seen
      FROM purchases WHERE stripe_payment_intent_id = ${r.paymentIntentId} FOR UPDATE`;
  if (!p) return { kind: 'no_purchase' };
  if (p.seen) return { kind: 'already_restored', shopId: p.shop_id };
  if (p.status !== 'refunded' || p.refund_cause !== 'refund') return { kind: 'not_taken', shopId: p.shop_id, status: p.status, cause: p.refund_cause };

  // The refund claimed the pack less what partly lost disputes had taken (refundPurchaseByPaymentIntent).
  const restored = p.granted_at === null ? p.credits : p.credits - (await lostDisputeCredits(tx, r.paymentIntentId)) - Number(p.refund_shortfall);
  if (restored > 0) {
    await applyWalletChange(tx, {
      shopId: p.shop_id,
      type: 'purchase',
      amount: restored,
      idempotencyKey: p.granted_at === null ? `purchase-${p.stripe_session_id}` : refundRestoredKey(p.stripe_session_id, p.round),
      reference: `stripe:${p.stripe_session_id}`,
      traceId: r.traceId,
    });
  }
  await tx.$executeRaw`
    UPDATE purchases
       SET status = 'paid', refund_cause = NULL, refunded_at = NULL, refund_shortfall = 0, granted_at = COALESCE(granted_at, now()),
           failed_refund_ids = array_append(failed_refund_ids, ${r.refundId}), updated_at = now()
     WHERE id = ${p.id}::uuid AND status = 'refunded'`;
  // A dispute lost while the refund had the pack took nothing then: the pack is back, so it takes its share now.
  await takeLostDisputes(tx, { paymentIntentId: r.paymentIntentId, traceId: r.traceId });
  return { kind: 'restored', shopId: p.shop_id, purchaseId: p.id, restored };
}
