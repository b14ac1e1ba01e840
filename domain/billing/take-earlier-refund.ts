import type { Tx } from '../../lib/db';
import { withRefundKeys } from './charge-refund-keys';
import { refundPurchaseByPaymentIntent } from './refund-purchase';
import { restoreFailedRefund, type RestoreOutcome } from './restore-failed-refund';
import { failureOfRefund } from './restore-waiting-failure';

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
