import { sql, type Tx } from '../../lib/db';
import { ATTRIBUTION_RETURNING, lastDeliveredSql, toAttribution, type Attribution, type AttributionRow } from './attribute-order';
import { notOfDeletedFlowSql } from '../flows/deleted-flow-sql';
import { lockContactsForAttribution } from './attribution-lock';
import { toMinorUnits } from './money';

/**
 * An order known only from Shopify's customer summary (customers/update with
 * `orders_count` above Shopify's count held plus the orders seen here that it
 * had not counted yet, so no orders/create seen for it) is attributed like an
 * order: to the campaign or flow message last clicked within the click
 * window before the update, else the campaign or flow message last delivered
 * within the view window. It is provisional: its id is `summary:<customer id>:<count>`, its
 * amount the rise of `total_spent` beyond the amount of those orders (in the
 * contact's summary currency, else 0), its time the update's; one row
 * however many orders the rise reports. When the real orders/create arrives
 * it replaces it (record-order.ts), so the order counts once. Only for a
 * customer whose orders Shopify had counted before (a first count is
 * history, not an order now). Runs before the summary is applied
 * (apply-customer-summary.ts, the same rule): it compares with the figures
 * held, so a redelivered or stale update, whose count is not above them,
 * attributes nothing.
 */
export async function attributeSummaryOrder(
  tx: Tx,
  s: { shopId: string; customerId: string; ordersCount: number | null; totalSpent: string | null; currency: string | null; at: Date },
): Promise<Attribution | null> {
  if (s.ordersCount === null) return null;
  // The contact row first, as orders/create takes it (recordShopifyOrder's UPDATE) before the
  // attribution lock: the other way round the two deadlock. Held to commit, it keeps any order from
  // being recorded between the comparison here and applyShopifyCustomerSummary's update.
  const [contact] = await tx.$queryRaw<{ id: string }[]>`
    SELECT id FROM contacts WHERE shop_id = ${s.shopId}::uuid AND shopify_customer_id = ${s.customerId} AND erased_at IS NULL LIMIT 1
       FOR NO KEY UPDATE`;
  if (!contact) return null;
  await lockContactsForAttribution(tx, [contact.id]);
  const spent = s.totalSpent && s.currency ? toMinorUnits(s.totalSpent, s.currency) : null;
  const [row] = await tx.$queryRaw<AttributionRow[]>`
    WITH c AS (
      SELECT c.id, c.id AS contact_id, c.shop_id, c.amount_spent_currency, c.shopify_amount_spent_minor + c.amount_uncounted_minor AS spent_before,
             s.click_window_hours, s.view_window_hours
        FROM contacts c JOIN shops s ON s.id = c.shop_id
       WHERE c.id = ${contact.id}::uuid
         AND c.shopify_orders_count > 0
         AND ${s.ordersCount}::int > c.shopify_orders_count + c.orders_uncounted
    ), click AS (
      SELECT k.campaign_id, k.flow_id, k.flow_message_id, k.id
        FROM c JOIN link_clicks k ON k.shop_id = c.shop_id AND k.contact_id = c.id
       WHERE NOT k.bot AND k.clicked_at <= ${s.at} AND k.clicked_at > ${s.at}::timestamptz - make_interval(hours => c.click_window_hours)
         AND ${notOfDeletedFlowSql(sql`k.flow_id`)}
       ORDER BY k.clicked_at DESC LIMIT 1
    ), viewed AS (
      ${lastDeliveredSql(sql`c`, sql`${s.at}::timestamptz`)}
    ), pick AS (
      SELECT 'click' AS kind, campaign_id, flow_id, flow_message_id, id AS click_id FROM click
      UNION ALL
      SELECT 'view', campaign_id, flow_id, flow_message_id, NULL::uuid FROM viewed WHERE NOT EXISTS (SELECT 1 FROM click)
    )
    INSERT INTO order_attributions (shop_id, order_id, campaign_id, flow_id, flow_message_id, contact_id, kind, source, click_id, total_minor, currency, ordered_at)
    SELECT c.shop_id, ${`summary:${s.customerId}:${s.ordersCount}`}, pick.campaign_id, pick.flow_id, pick.flow_message_id, c.id, pick.kind, 'summary', pick.click_id,
           CASE WHEN ${spent}::bigint IS NOT NULL AND (c.amount_spent_currency IS NULL OR c.amount_spent_currency = ${s.currency}::text)
                THEN GREATEST(0, ${spent}::bigint - c.spent_before) ELSE 0 END,
           COALESCE(c.amount_spent_currency, ${s.currency}::text), ${s.at}
      FROM c, pick
     WHERE COALESCE(c.amount_spent_currency, ${s.currency}::text) IS NOT NULL
    ON CONFLICT (shop_id, order_id) DO NOTHING
    RETURNING ${ATTRIBUTION_RETURNING}`;
  return row ? toAttribution(row) : null;
}
