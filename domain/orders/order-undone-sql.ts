import { sql, type Sql } from '../../lib/db';

/** Why an order no longer stands: cancelled, or refunded in full. */
export type OrderUndone = 'order_cancelled' | 'order_refunded';

export const isOrderUndone = (v: unknown): v is OrderUndone => v === 'order_cancelled' || v === 'order_refunded';

/**
 * Why the shopify_orders row of alias `o` no longer stands, or NULL:
 * `order_cancelled` (orders/cancelled, or created cancelled), else
 * `order_refunded` once its successful refunds in its own currency
 * (shopify_refunds, record-refund.ts) add up to its total. A partial refund
 * leaves it standing, and so does one in another currency (no exchange rate
 * is guessed, as refunded-sql.ts); with no refund at all the sum is NULL, so
 * a free order is not "refunded" by having nothing to give back. One probe
 * of the shopify_refunds key per order.
 */
export function orderUndoneSql(o: Sql): Sql {
  return sql`(CASE WHEN ${o}.cancelled_at IS NOT NULL THEN 'order_cancelled'
                   WHEN (SELECT sum(f.amount_minor) FROM shopify_refunds f
                          WHERE f.shop_id = ${o}.shop_id AND f.order_id = ${o}.order_id AND f.currency = ${o}.currency) >= ${o}.total_minor
                   THEN 'order_refunded' END)`;
}
