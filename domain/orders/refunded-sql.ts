import { sql, type Sql } from '../../lib/db';

/**
 * What Shopify gave back of order `o` (alias of a row with its shop_id,
 * order_id and currency) in that currency, in minor units, or NULL when
 * nothing: the sum of its successful refund transactions
 * (shopify_refund_transactions, record-refund.ts), each counted in the
 * currency it was paid in when that is the order's, else by its part of its
 * refund in the shop's currency (Shopify's own figure, refund-amounts.ts;
 * the order is stored in the shop's currency, a transaction is in the
 * customer's). A transaction in another currency with no such part (its
 * refunds/create not come yet) counts nothing until it comes. One probe of
 * the table's key per order.
 */
export function refundedInOrderCurrencySql(o: Sql): Sql {
  return sql`(SELECT sum(CASE WHEN f.currency = ${o}.currency THEN f.amount_minor ELSE f.shop_amount_minor END)
                FROM shopify_refund_transactions f
               WHERE f.shop_id = ${o}.shop_id AND f.order_id = ${o}.order_id AND f.status = 'success'
                 AND (f.currency = ${o}.currency OR f.shop_currency = ${o}.currency))`;
}

/**
 * What of the attribution of alias `a` (an order_attributions row, or a row
 * with its shop_id, order_id, total_minor and currency) Shopify refunded, in
 * minor units: refundedInOrderCurrencySql, at most its total. What the
 * attribution earned is `a.total_minor` minus this, never below zero. Read
 * when asked, from rows a refund, its transactions and an order write
 * whichever comes first, so a refund recorded before its order (or
 * redelivered, or whose transaction succeeds later) counts once.
 */
export function refundedSql(a: Sql): Sql {
  return sql`LEAST(${a}.total_minor, COALESCE(${refundedInOrderCurrencySql(a)}, 0))::bigint`;
}
