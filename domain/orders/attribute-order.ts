import type { Tx } from '../../lib/db';
import { lockContactsForAttribution } from './attribution-lock';

export interface Attribution {
  kind: 'click' | 'view';
  campaignId: string;
  totalMinor: bigint;
  currency: string;
}

interface Row {
  kind: 'click' | 'view';
  campaign_id: string;
  total_minor: bigint;
  currency: string;
}

/**
 * Attributes a stored order (shopify_orders) to at most one campaign of its
 * shop: the one whose link its contact clicked last (a human click, not a
 * preview) within the shop's click window before the order, else the one
 * last delivered to the contact (status `delivered`, sent within the view
 * window before the order). Nothing when the order has no contact, nothing
 * qualifies, or the order is already attributed (the primary key: never
 * twice, whichever of this and a late click's flush comes first), and it
 * replaces the provisional attribution a customer summary made for it.
 * Returns what it wrote, for the counters.
 */
export async function attributeOrder(tx: Tx, o: { shopId: string; orderId: string; contactId: string }): Promise<Attribution | null> {
  await lockContactsForAttribution(tx, [o.contactId]);
  const [row] = await tx.$queryRaw<Row[]>`
    WITH o AS (
      SELECT o.shop_id, o.order_id, o.contact_id, o.total_minor, o.currency, o.ordered_at, s.click_window_hours, s.view_window_hours
        FROM shopify_orders o JOIN shops s ON s.id = o.shop_id
       WHERE o.shop_id = ${o.shopId}::uuid AND o.order_id = ${o.orderId} AND o.contact_id IS NOT NULL
    ), click AS (
      SELECT k.campaign_id, k.id
        FROM o JOIN link_clicks k ON k.shop_id = o.shop_id AND k.contact_id = o.contact_id
       WHERE NOT k.bot AND k.clicked_at <= o.ordered_at AND k.clicked_at > o.ordered_at - make_interval(hours => o.click_window_hours)
       ORDER BY k.clicked_at DESC LIMIT 1
    ), viewed AS (
      SELECT r.campaign_id
        FROM o JOIN campaign_recipients r ON r.contact_id = o.contact_id
               JOIN campaigns c ON c.id = r.campaign_id AND c.shop_id = o.shop_id
       WHERE r.status = 'delivered' AND r.sent_at <= o.ordered_at AND r.sent_at > o.ordered_at - make_interval(hours => o.view_window_hours)
       ORDER BY r.sent_at DESC LIMIT 1
    ), pick AS (
      SELECT 'click' AS kind, campaign_id, id AS click_id FROM click
      UNION ALL
      SELECT 'view', campaign_id, NULL::uuid FROM viewed WHERE NOT EXISTS (SELECT 1 FROM click)
    ), superseded AS (
      -- The provisional attribution this order was counted by, from the
      -- customer summary before its orders/create arrived (attribute-summary-order.ts):
      -- the one of the lowest count that covers the orders seen so far.
      DELETE FROM order_attributions a
       WHERE (a.shop_id, a.order_id) = (
         SELECT p.shop_id, p.order_id FROM order_attributions p, o JOIN contacts ct ON ct.id = o.contact_id
          WHERE p.shop_id = o.shop_id AND p.contact_id = o.contact_id AND p.source = 'summary'
            AND split_part(p.order_id, ':', 3)::int >= ct.orders_seen
          ORDER BY split_part(p.order_id, ':', 3)::int LIMIT 1)
    )
    INSERT INTO order_attributions (shop_id, order_id, campaign_id, contact_id, kind, source, click_id, total_minor, currency, ordered_at)
    SELECT o.shop_id, o.order_id, pick.campaign_id, o.contact_id, pick.kind, 'order', pick.click_id, o.total_minor, o.currency, o.ordered_at
      FROM o, pick
    ON CONFLICT (shop_id, order_id) DO NOTHING
    RETURNING kind, campaign_id, total_minor, currency`;
  return row ? { kind: row.kind, campaignId: row.campaign_id, totalMinor: row.total_minor, currency: row.currency } : null;
}
