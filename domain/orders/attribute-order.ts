import { sql, type Sql, type Tx } from '../../lib/db';
import { notOfDeletedFlowSql } from '../flows/deleted-flow-sql';
import { lockContactsForAttribution } from './attribution-lock';
import { refundedSql } from './refunded-sql';

export interface Attribution {
  kind: 'click' | 'view';
  /** The campaign, or (a flow message's click or view) null and `flowId` set: exactly one. */
  campaignId: string | null;
  flowId: string | null;
  totalMinor: bigint;
  /** Of totalMinor, what the order's successful refunds recorded so far took back (refunded-sql.ts): it earned the rest. */
  refundedMinor: bigint;
  currency: string;
}

/** An attribution as the INSERT … RETURNING gives it (both attribution paths). */
export interface AttributionRow {
  kind: 'click' | 'view';
  campaign_id: string | null;
  flow_id: string | null;
  total_minor: bigint;
  refunded_minor: bigint;
  currency: string;
}

/** The columns of AttributionRow, for a RETURNING of order_attributions. */
export const ATTRIBUTION_RETURNING = sql`kind, campaign_id, flow_id, total_minor, ${refundedSql(sql`order_attributions`)} AS refunded_minor, currency`;

/** The result row as published (also the summary path's). */
export function toAttribution(row: AttributionRow): Attribution {
  return { kind: row.kind, campaignId: row.campaign_id, flowId: row.flow_id, totalMinor: row.total_minor, refundedMinor: row.refunded_minor, currency: row.currency };
}

/**
 * Attributes a stored order (shopify_orders) to at most one campaign or flow
 * of its shop: the campaign or flow message whose link its contact clicked
 * last (a human click, not a preview) within the shop's click window before
 * the order, else the message last delivered to the contact (status
 * `delivered`, sent within the view window before the order) — a campaign
 * recipient's or a flow message's, whichever went out later. Nothing when the order has no contact, nothing
 * qualifies, the order is cancelled (cancel-order.ts) or a test order
 * (placed through a test gateway: record-order.ts), or the order is
 * already attributed (the primary key: never twice, whichever of this and a
 * late click's flush comes first). The
 * provisional attribution a customer summary made for it is gone already
 * (recordShopifyOrder drops it). Returns what it wrote, for the counters.
 */
export async function attributeOrder(tx: Tx, o: { shopId: string; orderId: string; contactId: string }): Promise<Attribution | null> {
  await lockContactsForAttribution(tx, [o.contactId]);
  const [row] = await tx.$queryRaw<AttributionRow[]>`
    WITH o AS (
      SELECT o.shop_id, o.order_id, o.contact_id, o.total_minor, o.currency, o.ordered_at, s.click_window_hours, s.view_window_hours
        FROM shopify_orders o JOIN shops s ON s.id = o.shop_id
       WHERE o.shop_id = ${o.shopId}::uuid AND o.order_id = ${o.orderId} AND o.contact_id IS NOT NULL AND o.cancelled_at IS NULL AND NOT o.test
    ), click AS (
      SELECT k.campaign_id, k.flow_id, k.flow_message_id, k.id
        FROM o JOIN link_clicks k ON k.shop_id = o.shop_id AND k.contact_id = o.contact_id
       WHERE NOT k.bot AND k.clicked_at <= o.ordered_at AND k.clicked_at > o.ordered_at - make_interval(hours => o.click_window_hours)
         AND ${notOfDeletedFlowSql(sql`k.flow_id`)}
       ORDER BY k.clicked_at DESC LIMIT 1
    ), viewed AS (
      ${lastDeliveredSql(sql`o`, sql`o.ordered_at`)}
    ), pick AS (
      SELECT 'click' AS kind, campaign_id, flow_id, flow_message_id, id AS click_id FROM click
      UNION ALL
      SELECT 'view', campaign_id, flow_id, flow_message_id, NULL::uuid FROM viewed WHERE NOT EXISTS (SELECT 1 FROM click)
    )
    INSERT INTO order_attributions (shop_id, order_id, campaign_id, flow_id, flow_message_id, contact_id, kind, source, click_id, total_minor, currency, ordered_at)
    SELECT o.shop_id, o.order_id, pick.campaign_id, pick.flow_id, pick.flow_message_id, o.contact_id, pick.kind, 'order', pick.click_id, o.total_minor, o.currency, o.ordered_at
      FROM o, pick
    ON CONFLICT (shop_id, order_id) DO NOTHING
    RETURNING ${ATTRIBUTION_RETURNING}`;
  return row ? toAttribution(row) : null;
}

/**
 * The body of a CTE: the message last delivered to the contact of `c` (a CTE
 * with `id`/`contact_id`, `shop_id` and `view_window_hours`) within the view
 * window before `at` — the latest of the last campaign recipient and the last
 * flow message, each one indexed probe — as `campaign_id, flow_id,
 * flow_message_id`. A tie goes to the campaign; a deleted flow's messages do not count.
 */
export function lastDeliveredSql(c: Sql, at: Sql): Sql {
  return sql`
      SELECT campaign_id, flow_id, flow_message_id FROM (
        (SELECT r.campaign_id, NULL::uuid AS flow_id, NULL::bigint AS flow_message_id, r.sent_at, 0 AS pref
           FROM ${c} JOIN campaign_recipients r ON r.contact_id = ${c}.contact_id
                     JOIN campaigns cp ON cp.id = r.campaign_id AND cp.shop_id = ${c}.shop_id
          WHERE r.status = 'delivered' AND r.sent_at <= ${at} AND r.sent_at > ${at} - make_interval(hours => ${c}.view_window_hours)
          ORDER BY r.sent_at DESC LIMIT 1)
        UNION ALL
        (SELECT NULL::uuid, m.flow_id, m.id, m.sent_at, 1
           FROM ${c} JOIN flow_messages m ON m.contact_id = ${c}.contact_id AND m.shop_id = ${c}.shop_id
          WHERE m.status = 'delivered' AND m.sent_at <= ${at} AND m.sent_at > ${at} - make_interval(hours => ${c}.view_window_hours)
            AND ${notOfDeletedFlowSql(sql`m.flow_id`)}
          ORDER BY m.sent_at DESC LIMIT 1)
      ) last ORDER BY sent_at DESC, pref LIMIT 1`;
}
