import { sql, type Sql } from '../../lib/db';

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
