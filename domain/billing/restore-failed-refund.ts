import type { Tx } from '../../lib/db';
import { applyWalletChange } from '../credits/apply-wallet-change';
import { lockPurchaseWallet } from './lock-purchase-wallet';
import { lostDisputeCredits } from './lost-dispute-credits';
import { lockPaymentIntent } from './payment-intent-lock';
import { refundRestoredKey } from './purchase-keys';
import type { ChargeRefundOutcome } from './refund-charge';
import { takeEarlierRefund } from './take-earlier-refund';
import { takeLostDisputes } from './take-lost-disputes';
import { takeUnappliedRefund } from './take-unapplied-refund';

export type RestoreOutcome =
  /**
   * The refund's claw-back undone: `restored` credits back (what it and the released reservations had taken), the purchase paid again;
   * `retaken`: a later refund of the payment, received while this one held the pack, taken now (null: none).
   */
  | { kind: 'restored'; shopId: string; purchaseId: string; restored: number; retaken: ChargeRefundOutcome | null }
  /** This refund's failure was applied before. */
  | { kind: 'already_restored'; shopId: string }
  /** The refund has not taken the pack yet (its charge.refunded not processed, or a partial refund): recorded, the failure waits for it. */
  | { kind: 'waiting'; shopId: string }
  /** Taken by a lost dispute (or by a refund before refund causes were kept): no refund's failure gives it back. */
  | { kind: 'not_taken'; shopId: string; status: string; cause: string | null }
  /** No purchase carries this payment intent yet: recorded, the failure waits for the completion that sees its refund. */
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
 * A refund that failed (or was cancelled): the money stayed paid, so the
 * credits its `charge.refunded` took come back, once per refund (its id
 * joins `failed_refund_ids` in the guarded refunded → paid UPDATE; a second
 * event for the same refund, or a repeat, finds it there). Every failure is
 * recorded first (`stripe_refund_failures`, one row per refund, `failedAt`
 * being Stripe's time of the event): one processed before its refund took
 * the pack (Stripe does not order the two) is `waiting`, and the refund's
 * `charge.refunded`, or the completion that sees the refund, calls this
 * again in its own transaction (restoreWaitingFailure), so either order
 * ends as Stripe's. A failure of another refund than the one that took
 * the pack (failureOfTake: by refund id, else by Stripe's times) is
 * recorded `waiting` too: its own refund's event is still to come. What comes back is what was taken: what the refund
 * claimed (the pack less what partly lost disputes took before it) less
 * the shortfall still unpaid (the claw-back and the `-rest-` rows that
 * released reservations paid); the shortfall is cleared. A purchase
 * refunded before its grant (the refund seen by the completion) gets the
 * grant it never had, under the grant's own key, so a later completion
 * grants nothing more. A dispute lost while the refund stood takes its
 * share once the pack is back (takeLostDisputes). Only a refund's
 * claw-back (`refund_cause = 'refund'`) is undone: a lost dispute's stands
 * whatever a refund does. The next refund of the payment is a new round
 * with keys of its own (purchase-keys.ts). Under the payment intent's
 * lock, then the shop's wallet's, before the purchase's row and the
 * failure's (lockPurchaseWallet): a release either paid the shortfall
 * before (and this gives it back) or runs after, finding the purchase paid
 * and owing nothing.
 */
export async function restoreFailedRefund(
  tx: Tx,
  r: {
    refundId: string;
    paymentIntentId: string;
    failedAt: Date;
    refundMadeAt?: Date | null;
    /** The failure of a refund that, in Stripe's order, took the pack before the take holding it now (takeEarlierRefund). */
    ofEarlierTake?: boolean;
    traceId?: string;
  },
): Promise<RestoreOutcome> {
  await lockPaymentIntent(tx, r.paymentIntentId);
  const wallet = await lockPurchaseWallet(tx, { paymentIntentId: r.paymentIntentId });
  const [p] = wallet
    ? await tx.$queryRaw<PurchaseRow[]>`
        SELECT id, shop_id, stripe_session_id, credits, status, refund_cause, refund_shortfall, granted_at,
               cardinality(failed_refund_ids) AS round, ${r.refundId} = ANY(failed_refund_ids) AS seen
          FROM purchases WHERE stripe_payment_intent_id = ${r.paymentIntentId} FOR UPDATE`
    : [];
  // The first event of the refund's failure sets failed_at; later ones (Stripe updates a failed refund again) keep it.
  await tx.$executeRaw`
    INSERT INTO stripe_refund_failures (stripe_refund_id, stripe_payment_intent_id, shop_id, failed_at, refund_made_at)
    VALUES (${r.refundId}, ${r.paymentIntentId}, ${p?.shop_id ?? null}::uuid, ${r.failedAt}, ${r.refundMadeAt ?? null}::timestamptz)
    ON CONFLICT (stripe_refund_id) DO UPDATE
       SET shop_id = COALESCE(stripe_refund_failures.shop_id, EXCLUDED.shop_id),
           refund_made_at = COALESCE(stripe_refund_failures.refund_made_at, EXCLUDED.refund_made_at), updated_at = now()
     WHERE (stripe_refund_failures.shop_id IS NULL AND EXCLUDED.shop_id IS NOT NULL)
        OR (stripe_refund_failures.refund_made_at IS NULL AND EXCLUDED.refund_made_at IS NOT NULL)`;
  if (!p) return { kind: 'no_purchase' };
  // Restored before (or before failures were recorded): never waits again, so no later refund is paired with it.
  if (p.seen) {
    await settleFailure(tx, r.refundId, 'restored');
    return { kind: 'already_restored', shopId: p.shop_id };
  }
  if (p.status !== 'refunded') return { kind: 'waiting', shopId: p.shop_id };
  if (p.refund_cause !== 'refund') {
    await settleFailure(tx, r.refundId, 'not_taken');
    return { kind: 'not_taken', shopId: p.shop_id, status: p.status, cause: p.refund_cause };
  }
  // Another refund's take (this refund's charge.refunded not processed yet): this failure waits for its own.
  if (!r.ofEarlierTake && !(await failureOfTake(tx, p.id, r.refundId))) {
    // Unless its refund's charge.refunded came while the other refund held the pack: both applied now, in Stripe's order.
    return (await takeEarlierRefund(tx, { paymentIntentId: r.paymentIntentId, refundId: r.refundId, traceId: r.traceId })) ?? { kind: 'waiting', shopId: p.shop_id };
  }

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
           failed_refund_ids = array_append(failed_refund_ids, ${r.refundId}), refund_made_at = NULL, updated_at = now()
     WHERE id = ${p.id}::uuid AND status = 'refunded'`;
  await settleFailure(tx, r.refundId, 'restored');
  // A dispute lost while the refund had the pack took nothing then: the pack is back, so it takes its share now.
  await takeLostDisputes(tx, { paymentIntentId: r.paymentIntentId, traceId: r.traceId });
  // A refund made after this one failed, whose charge.refunded came while this one held the pack: it takes the pack now.
  const retaken = await takeUnappliedRefund(tx, { paymentIntentId: r.paymentIntentId, traceId: r.traceId });
  return { kind: 'restored', shopId: p.shop_id, purchaseId: p.id, restored, retaken };
}

/**
 * Whether the refunded purchase's take is this failed refund's: the take
 * named it (`refund_keys`); or it named no refund (`event:<id>` keys only,
 * as charges on API versions from 2022-11-15 come) and was made (Stripe's
 * time, `refund_made_at`) no earlier than the refund and no later than its
 * failure. A take with no time (before it was kept, or by hand) is any
 * failure's, as before.
 */
async function failureOfTake(tx: Tx, purchaseId: string, refundId: string): Promise<boolean> {
  const [row] = await tx.$queryRaw<{ ok: boolean }[]>`
    SELECT ${refundId} = ANY(p.refund_keys)
           OR (NOT EXISTS (SELECT 1 FROM unnest(p.refund_keys) k WHERE k NOT LIKE 'event:%')
               AND (p.refund_made_at IS NULL
                    OR ((f.refund_made_at IS NULL OR f.refund_made_at <= p.refund_made_at) AND p.refund_made_at <= f.failed_at))) AS ok
      FROM purchases p, stripe_refund_failures f
     WHERE p.id = ${purchaseId}::uuid AND f.stripe_refund_id = ${refundId}`;
  return row?.ok === true;
}

async function settleFailure(tx: Tx, refundId: string, status: 'restored' | 'not_taken'): Promise<void> {
  await tx.$executeRaw`
    UPDATE stripe_refund_failures SET status = ${status}, updated_at = now() WHERE stripe_refund_id = ${refundId} AND status = 'waiting'`;
}
