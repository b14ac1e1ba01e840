import type { Tx } from '../../lib/db';
import type { OutboxRow } from '../outbox/outbox';
import { lateContactsCte, type LateContacts } from './late-contacts-sql';

/**
 * How far back an order is linked to a contact that appears after it, and
 * how many. The same bounds as queue_recent_order_flow_triggers (migration
 * 20261220200000), which decides what a post-purchase flow still hears of.
 */
export const LATE_ORDER_WINDOW_HOURS = 24;
export const LATE_ORDERS_PER_CONTACT = 5;

export interface LinkedOrders {
  /** The first of contactIds (a customer's link has one contact). */
  contactId: string | null;
  /** The contacts that were given orders. */
  contactIds: string[];
  orderIds: string[];
  /** The flows.trigger.v1 events written for them, for publishing after commit. */
  triggers: OutboxRow[];
}

/**
 * Called by the customers/* webhooks after the customer's contact is upserted,
 * under lockShopifyCustomer and lockBuyerPhones of the event's number (and,
 * by contact ids, for contacts that appear any other way:
 * contacts/link-earlier-purchases.ts, each contact its own
 * LATE_ORDERS_PER_CONTACT, under the same locks): the
 * customer's orders stored before its contact existed (or before the contact
 * held this customer id) are linked to it, and so are the orders of no
 * customer stored before the contact held its number whose numbers name
 * this contact alone (as record-order.ts would have linked them had the
 * contact been there: buyer-contact-sql.ts; an order naming another customer
 * never is). The newest LATE_ORDERS_PER_CONTACT of them placed within
 * LATE_ORDER_WINDOW_HOURS; older ones stay unlinked as they were. The
 * contact row is locked first (FOR NO KEY UPDATE, as a consent change takes
 * it), so a subscription committing at the
 * same time either sees these links (its consent record trigger queues the
 * orders then) or is seen by the trigger events written here; and a flow's
 * send step deciding under that row's share lock either sees a linked order
 * as placed or sends before it is linked (flows/order-placed-since.ts). Those are the
 * orders/create event of each linked order, written only if the contact is
 * subscribed and a flow live since the order's arrival is on the trigger;
 * the job's unique key (flow, contact, order) starts a run at most once,
 * whatever else queues it. The contact's order summary is not moved: the
 * customer webhook carries Shopify's own count, which includes the
 * customer's orders (an order of no customer linked by its number is left
 * out of it, as it is of Shopify's), and nothing is attributed: the contact
 * was not reachable at this number when the order was placed.
 */
export async function linkCustomerOrders(tx: Tx, o: { shopId: string; traceId: string | null } & LateContacts): Promise<LinkedOrders> {
  if (o.contactIds !== undefined && o.contactIds.length === 0) return { contactId: null, contactIds: [], orderIds: [], triggers: [] };
  const rows = await tx.$queryRaw<{ contact_id: string; order_id: string }[]>`
    WITH ${lateContactsCte(o.shopId, o)}, cand AS (
      SELECT c.id AS contact_id, s.order_id, s.ordered_at FROM shopify_orders s JOIN c ON s.customer_id = c.shopify_customer_id
       WHERE s.shop_id = ${o.shopId}::uuid AND s.contact_id IS NULL
         AND s.ordered_at > now() - make_interval(hours => ${LATE_ORDER_WINDOW_HOURS}::int)
      UNION
      -- An order of no customer: any live contact holding one of its numbers would have been found by it
      -- (buyer-contact-sql.ts), so it is this contact's only if no other holds one.
      SELECT c.id, s.order_id, s.ordered_at FROM shopify_orders s JOIN c ON s.buyer_phone_hashes @> ARRAY[c.phone_hash]
       WHERE s.shop_id = ${o.shopId}::uuid AND s.customer_id IS NULL AND s.contact_id IS NULL AND s.buyer_phone_hashes <> '{}'
         AND s.ordered_at > now() - make_interval(hours => ${LATE_ORDER_WINDOW_HOURS}::int)
         AND s.buyer_phone_hashes && (SELECT array_agg(phone_hash) FROM c)
         AND NOT EXISTS (SELECT 1 FROM contacts x
                          WHERE x.shop_id = s.shop_id AND x.erased_at IS NULL AND x.id <> c.id AND x.phone_hash = ANY(s.buyer_phone_hashes))
    ), pick AS (
      -- The newest LATE_ORDERS_PER_CONTACT of each contact; an order goes to one contact.
      SELECT DISTINCT ON (order_id) contact_id, order_id FROM (
        SELECT contact_id, order_id, row_number() OVER (PARTITION BY contact_id ORDER BY ordered_at DESC, order_id) AS n FROM cand) r
       WHERE n <= ${LATE_ORDERS_PER_CONTACT}::int
       ORDER BY order_id, contact_id
    )
    UPDATE shopify_orders s SET contact_id = pick.contact_id
      FROM pick
     WHERE s.shop_id = ${o.shopId}::uuid AND s.order_id = pick.order_id AND s.contact_id IS NULL
    RETURNING pick.contact_id, s.order_id`;
  if (rows.length === 0) return { contactId: null, contactIds: [], orderIds: [], triggers: [] };
  const contactIds = [...new Set(rows.map((r) => r.contact_id))];
  const contactId = contactIds[0]!;
  const orderIds = rows.map((r) => r.order_id);
  // Two statements: a query does not see rows a function it calls inserts.
  const ids = await tx.$queryRaw<{ id: bigint }[]>`
    SELECT q AS id FROM queue_recent_order_flow_triggers(${o.shopId}::uuid, ${contactIds}::uuid[], ${orderIds}::text[], ${o.traceId}::text) q`;
  if (ids.length === 0) return { contactId, contactIds, orderIds, triggers: [] };
  const triggers = await tx.$queryRaw<OutboxRow[]>`
    SELECT id, event_type, aggregate_id, payload, trace_id, available_at FROM outbox_events
     WHERE id = ANY(${ids.map((r) => r.id)}::bigint[]) ORDER BY id`;
  return { contactId, contactIds, orderIds, triggers };
}
