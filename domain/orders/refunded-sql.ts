import { sql, type Sql } from '../../lib/db';

/**
 * What of the attribution of alias `a` (an order_attributions row, or a row
 * with its shop_id, order_id, total_minor and currency) Shopify refunded, in
 * minor units: the successful refunds of its order in the attribution's
 * currency (shopify_refunds, record-refund.ts), at most its total. What the
 * attribution earned is `a.total_minor` minus this, never below zero. Read
 * when asked, from rows a refund and an order write each once whichever
 * comes first, so a refund recorded before its order (or redelivered)
 * counts once. One probe of the shopify_refunds key per attribution.
 */
export function refundedSql(a: Sql): Sql {
  return sql`LEAST(${a}.total_minor, COALESCE((SELECT sum(f.amount_minor) FROM shopify_refunds f
                                                WHERE f.shop_id = ${a}.shop_id AND f.order_id = ${a}.order_id AND f.currency = ${a}.currency), 0))::bigint`;
}
