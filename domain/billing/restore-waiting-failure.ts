import { sql, type Sql, type Tx } from '../../lib/db';
import { restoreFailedRefund, type RestoreOutcome } from './restore-failed-refund';

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

/**
 * Whether a row of stripe_refund_failures is the failure of the refund a
 * `charge.refunded` made at `refundMadeAt` names with `refundKeys`: by id
 * when the keys are refund ids, else by Stripe's times (above).
 */
export function failureOfRefund(r: { refundMadeAt: Date; refundKeys: string[] }): Sql {
  const refundIds = r.refundKeys.filter((k) => !k.startsWith('event:'));
  return sql`(CASE WHEN cardinality(${refundIds}::text[]) > 0 THEN stripe_refund_id = ANY(${refundIds}::text[])
                   ELSE failed_at >= ${r.refundMadeAt} AND (refund_made_at IS NULL OR refund_made_at <= ${r.refundMadeAt}) END)`;
}
