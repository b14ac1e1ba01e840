import type { Tx } from '../../lib/db';
import { applyWalletChange } from '../credits/apply-wallet-change';
import { chargeRefundKeys, withRefundKeys } from './charge-refund-keys';
import { lockPurchaseWallet } from './lock-purchase-wallet';
import { lostDisputeCredits } from './lost-dispute-credits';
import { lockPaymentIntent } from './payment-intent-lock';
import { refundRestoredKey } from './purchase-keys';
import { failureOfRefund } from './refund-failure-match';
import { type RefundOutcome, refundPurchaseByPaymentIntent } from './refund-purchase';
import { takeLostDisputes } from './take-lost-disputes';

// A payment's full refunds and their failures, round by round: a refund
// takes the pack, its failure gives it back, and the next refund takes it
// again. Stripe does not order these events, so each function may need the
// others to finish the same outcome in its own transaction (a failure that
// gives the pack back lets a stored later refund take it; a refund that
// finds its failure waiting is undone at once): they call each other, and
// live together so the module graph stays acyclic.

export interface ChargeRefundOutcome {
  refund: RefundOutcome;
  /** The refund's failure, processed before it, applied now (null: none waited for it). */
  restore: RestoreOutcome | null;
}

/**
 * `charge.refunded` (a full refund), made by Stripe at `madeAt` (the
 * event's `created`): the pack's credits taken back
 * (refundPurchaseByPaymentIntent), then given back at once if this
 * refund's failure was processed first (restoreWaitingFailure), so the end
 * is the same whichever of the two events came first. The event names its
 * refund (chargeRefundKeys): a refund already undone by its failure is
 * not taken again when its event is replayed.
 */
export async function refundCharge(
  tx: Tx,
  r: { paymentIntentId: string; madeAt: Date; stripeEventId: string; payload: unknown; traceId?: string },
): Promise<ChargeRefundOutcome> {
  const refundKeys = await chargeRefundKeys(tx, r.stripeEventId, r.payload);
  const refund = await refundPurchaseByPaymentIntent(tx, { paymentIntentId: r.paymentIntentId, cause: 'refund', refundKeys, madeAt: r.madeAt, traceId: r.traceId });
  // Only a refund that refunded the purchase now can be the one a waiting failure failed.
  const tookIt = refund.kind === 'clawed_back' || refund.kind === 'marked_refunded';
  const restore = tookIt
    ? await restoreWaitingFailure(tx, { paymentIntentId: r.paymentIntentId, refundMadeAt: r.madeAt, refundKeys, traceId: r.traceId })
    : refund.kind === 'already_refunded'
      ? await takeEarlierRefund(tx, { paymentIntentId: r.paymentIntentId, madeAt: r.madeAt, refundKeys, traceId: r.traceId })
      : null;
  return { refund, restore };
}

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

/**
 * A refund just took the pack (`charge.refunded`, or the completion that
 * saw it): if the refund's failure was processed first, it is `waiting`
 * (restoreFailedRefund recorded it), and it is applied now, in the same
 * transaction, as it would have been in Stripe's order: the pack comes
 * back once, with the same ledger rows. Which failure is this refund's:
 * where the event names its refunds (`refundKeys` are Stripe refund ids:
 * the charge lists them, those failed or cancelled before the event left
 * out), a failure of one of them, whatever the seconds; else (`event:<id>`)
 * by time, a failure Stripe made at or after the refund (`failed_at >=
 * refundMadeAt`: a refund fails after it is made) of a refund made at or
 * before it (`refund_made_at`, when the failure said), so a refund made
 * after an older failure (a partial refund that failed, say) is a refund of
 * its own and stands. One failure per refund, the oldest. The caller holds
 * the payment intent's lock, the shop's wallet and the purchase, refunded
 * by this refund.
 */
export async function restoreWaitingFailure(
  tx: Tx,
  r: { paymentIntentId: string; refundMadeAt: Date; refundKeys: string[]; traceId?: string },
): Promise<RestoreOutcome | null> {
  const [failure] = await tx.$queryRaw<{ stripe_refund_id: string; failed_at: Date; refund_made_at: Date | null }[]>`
    SELECT stripe_refund_id, failed_at, refund_made_at FROM stripe_refund_failures
     WHERE stripe_payment_intent_id = ${r.paymentIntentId} AND status = 'waiting' AND ${failureOfRefund(r)}
     ORDER BY failed_at, stripe_refund_id
     LIMIT 1
       FOR UPDATE`;
  if (!failure) return null;
  return restoreFailedRefund(tx, {
    refundId: failure.stripe_refund_id,
    paymentIntentId: r.paymentIntentId,
    failedAt: failure.failed_at,
    refundMadeAt: failure.refund_made_at,
    traceId: r.traceId,
  });
}

interface FailureRow {
  stripe_refund_id: string;
  failed_at: Date;
  refund_made_at: Date | null;
}

/**
 * A refund and its failure, both processed while another refund held the
 * pack: the `charge.refunded` found it `already_refunded` (its keys joined
 * nothing), the failure was not the holding refund's (restoreFailedRefund:
 * `waiting`). In Stripe's order that refund took the pack and its failure
 * gave it back before the holding refund took it (one full refund at a
 * time: a charge is refunded anew only once the refund before failed). So
 * the same rows now, in the transaction of whichever of the two comes
 * second: the refund's keys join `refund_keys`, its failure gives the pack
 * back (that round's `restored` row, its id in `failed_refund_ids`), and
 * the holding refund takes the pack again under the next round's keys,
 * with its own time. The pair is found from either side: the
 * `charge.refunded` being processed and its waiting failure
 * (failureOfRefund), or the failure being processed and the stored
 * `charge.refunded` it is the failure of that no take named yet. Null when
 * there is no such pair. The caller holds the payment intent's lock, the
 * shop's wallet and the purchase.
 */
export async function takeEarlierRefund(
  tx: Tx,
  r: { paymentIntentId: string; traceId?: string } & ({ madeAt: Date; refundKeys: string[] } | { refundId: string }),
): Promise<RestoreOutcome | null> {
  const [p] = await tx.$queryRaw<{ id: string; refund_made_at: Date | null }[]>`
    SELECT id, refund_made_at FROM purchases
     WHERE stripe_payment_intent_id = ${r.paymentIntentId} AND status = 'refunded' AND refund_cause = 'refund'
       FOR UPDATE`;
  if (!p) return null;
  const pair = 'refundId' in r ? await refundOfFailure(tx, r.paymentIntentId, r.refundId) : await failureOfEvent(tx, r.paymentIntentId, r);
  if (!pair) return null;
  await tx.$executeRaw`UPDATE purchases SET refund_keys = ${withRefundKeys(pair.refundKeys)}, updated_at = now() WHERE id = ${p.id}::uuid`;
  const restore = await restoreFailedRefund(tx, {
    refundId: pair.failure.stripe_refund_id,
    paymentIntentId: r.paymentIntentId,
    failedAt: pair.failure.failed_at,
    refundMadeAt: pair.failure.refund_made_at,
    ofEarlierTake: true,
    traceId: r.traceId,
  });
  if (restore.kind !== 'restored') return restore;
  // The refund that held the pack takes it again (its keys are in refund_keys already), unless one seen meanwhile did.
  await refundPurchaseByPaymentIntent(tx, { paymentIntentId: r.paymentIntentId, cause: 'refund', madeAt: p.refund_made_at ?? undefined, traceId: r.traceId });
  return restore;
}

/** The waiting failure of the refund a `charge.refunded` names, when no take named that refund yet. */
async function failureOfEvent(tx: Tx, paymentIntentId: string, e: { madeAt: Date; refundKeys: string[] }) {
  const [unseen] = await tx.$queryRaw<{ unseen: boolean }[]>`
    SELECT NOT ${e.refundKeys}::text[] <@ (refund_keys || failed_refund_ids) AS unseen FROM purchases WHERE stripe_payment_intent_id = ${paymentIntentId}`;
  if (!unseen?.unseen) return null;
  const [failure] = await tx.$queryRaw<FailureRow[]>`
    SELECT stripe_refund_id, failed_at, refund_made_at FROM stripe_refund_failures
     WHERE stripe_payment_intent_id = ${paymentIntentId} AND status = 'waiting' AND ${failureOfRefund({ refundMadeAt: e.madeAt, refundKeys: e.refundKeys })}
     ORDER BY failed_at, stripe_refund_id
     LIMIT 1
       FOR UPDATE`;
  return failure ? { failure, refundKeys: e.refundKeys } : null;
}

/** The stored full `charge.refunded` of the payment this failure is the failure of (failureOfRefund), named by no take yet; the oldest. */
async function refundOfFailure(tx: Tx, paymentIntentId: string, refundId: string) {
  const [row] = await tx.$queryRaw<(FailureRow & { keys: string[] })[]>`
    SELECT f.stripe_refund_id, f.failed_at, f.refund_made_at, e.keys
      FROM stripe_refund_failures f
      JOIN purchases p ON p.stripe_payment_intent_id = f.stripe_payment_intent_id
      CROSS JOIN LATERAL (
        SELECT stripe_charge_refund_keys(w.event_id, w.payload) AS keys,
               CASE WHEN jsonb_typeof(w.payload->'created') = 'number' THEN to_timestamp((w.payload->>'created')::double precision) ELSE w.received_at END AS made_at
          FROM webhook_events w
         WHERE w.provider = 'stripe' AND w.topic = 'charge.refunded'
           AND w.payload->'data'->'object'->>'payment_intent' = ${paymentIntentId}
           AND COALESCE((w.payload->'data'->'object'->>'refunded')::boolean, false)) e
     WHERE f.stripe_refund_id = ${refundId} AND f.status = 'waiting'
       AND NOT e.keys <@ (p.refund_keys || p.failed_refund_ids)
       AND CASE WHEN EXISTS (SELECT 1 FROM unnest(e.keys) k WHERE k NOT LIKE 'event:%') THEN f.stripe_refund_id = ANY(e.keys)
                ELSE f.failed_at >= e.made_at AND (f.refund_made_at IS NULL OR f.refund_made_at <= e.made_at) END
     ORDER BY e.made_at
     LIMIT 1
       FOR UPDATE OF f`;
  return row ? { failure: row, refundKeys: row.keys } : null;
}

/**
 * A full refund of the payment whose `charge.refunded` came while an
 * earlier refund still held the pack (`already_refunded`: that refund's
 * failure, made before this refund, was not processed yet) took nothing
 * then, and its keys joined no purchase. Once the failure gives the pack
 * back, the refund is taken now, in the failure's transaction, as in
 * Stripe's order (refundCharge: the next round's keys, and its own failure
 * if that came first): the stored event is the record of it. The oldest
 * (Stripe's time) full `charge.refunded` of the payment whose keys are
 * neither in `refund_keys` nor in `failed_refund_ids`; null when none.
 * The caller holds the payment intent's lock, the shop's wallet and the
 * purchase, paid again.
 */
export async function takeUnappliedRefund(tx: Tx, r: { paymentIntentId: string; traceId?: string }): Promise<ChargeRefundOutcome | null> {
  const [e] = await tx.$queryRaw<{ event_id: string; payload: unknown; made_at: Date }[]>`
    SELECT e.event_id, e.payload,
           CASE WHEN jsonb_typeof(e.payload->'created') = 'number' THEN to_timestamp((e.payload->>'created')::double precision) ELSE e.received_at END AS made_at
      FROM webhook_events e
      JOIN purchases p ON p.stripe_payment_intent_id = ${r.paymentIntentId}
     WHERE e.provider = 'stripe' AND e.topic = 'charge.refunded'
       AND e.payload->'data'->'object'->>'payment_intent' = ${r.paymentIntentId}
       AND COALESCE((e.payload->'data'->'object'->>'refunded')::boolean, false)
       AND NOT stripe_charge_refund_keys(e.event_id, e.payload) <@ (p.refund_keys || p.failed_refund_ids)
     ORDER BY made_at, e.event_id
     LIMIT 1`;
  if (!e) return null;
  return refundCharge(tx, { paymentIntentId: r.paymentIntentId, madeAt: e.made_at, stripeEventId: e.event_id, payload: e.payload, traceId: r.traceId });
}
