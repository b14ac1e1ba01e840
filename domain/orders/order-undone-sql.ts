import { sql, type Sql } from '../../lib/db';
import { refundedInOrderCurrencySql } from './refunded-sql';

/** Why an order no longer stands: cancelled, or refunded in full. */
export type OrderUndone = 'order_cancelled' | 'order_refunded';

export const isOrderUndone = (v: unknown): v is OrderUndone => v === 'order_cancelled' || v === 'order_refunded';

/**
 * Why the shopify_orders row of alias `o` no longer stands, or NULL:
 * `order_cancelled` (orders/cancelled, or created cancelled), else
 * `order_refunded` once what Shopify gave back of it in its own currency
 * (refunded-sql.ts: its successful refund transactions, one paid in the
 * customer's currency by its part of the refund in the shop's) adds up to
 * its total, whether that success came with refunds/create or later with
 * order_transactions/create. A partial refund leaves it standing; with no
 * refund at all the sum is NULL, so a free order is not "refunded" by having
 * nothing to give back. One probe of the shopify_refund_transactions key per
 * order.
 */
export function orderUndoneSql(o: Sql): Sql {
  return sql`(CASE WHEN ${o}.cancelled_at IS NOT NULL THEN 'order_cancelled'
                   WHEN ${refundedInOrderCurrencySql(o)} >= ${o}.total_minor
                   THEN 'order_refunded' END)`;
}
