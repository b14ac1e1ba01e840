import { sql, type Sql } from '../../lib/db';
import { orderUndoneSql } from '../orders/order-undone-sql';
import { purchaseSql } from '../orders/purchase-sql';

/** Over `flow_runs r`: the contact made a purchase after the trigger (a test order or a cancelled one is none, purchase-sql.ts). */
export const ORDERED_SINCE_SQL: Sql = sql`
  EXISTS (SELECT 1 FROM shopify_orders od
           WHERE od.shop_id = r.shop_id AND od.contact_id = r.contact_id AND od.ordered_at > r.triggered_at
             AND ${purchaseSql(sql`od`)})`;

/** Over `flow_runs r`: an abandoned checkout's checkout went through. */
export const CHECKOUT_COMPLETED_SQL: Sql = sql`
  (r.trigger_type = 'checkout_abandoned' AND EXISTS (
     SELECT 1 FROM shopify_checkouts k WHERE k.shop_id = r.shop_id AND k.token = r.trigger_subject AND k.completed_at IS NOT NULL))`;

/**
 * What a run's exit check needs beyond its row, as columns of a query over
 * `flow_runs r`: `ordered_since` (ORDERED_SINCE_SQL), `checkout_completed`
 * (CHECKOUT_COMPLETED_SQL) and `order_undone` (a post-purchase run's own
 * order was cancelled or refunded in full since: `order_cancelled` /
 * `order_refunded`, else NULL, also when the order is not stored). One
 * definition for the one-run and the batched step paths. Read without a
 * lock: the send itself, and a hasOrderedSinceTrigger condition, check them
 * again under locks their writers conflict with (order-placed-since.ts,
 * trigger-order-undone.ts).
 */
export const RUN_EXIT_FACTS: Sql = sql`
  ${ORDERED_SINCE_SQL} AS ordered_since,
  ${CHECKOUT_COMPLETED_SQL} AS checkout_completed,
  (SELECT ${orderUndoneSql(sql`ot`)} FROM shopify_orders ot
    WHERE r.trigger_type = 'order_created' AND ot.shop_id = r.shop_id AND ot.order_id = r.trigger_subject) AS order_undone`;
