import type { Tx } from '../../lib/db';
import { lateContactsCte, type LateContacts } from '../orders/late-contacts-sql';

/**
 * How far back an open checkout is linked to a contact that appears after
 * it, and how many: as an order is (link-customer-orders.ts).
 */
export const LATE_CHECKOUT_WINDOW_HOURS = 24;
export const LATE_CHECKOUTS_PER_CONTACT = 5;

/**
 * Called by the customers/* webhooks after the customer's contact is upserted
 * and its orders linked, under lockShopifyCustomer and lockBuyerPhones of the
 * event's number (which checkouts/create|update take too: the two racing, the
 * second sees the first); and, by contact ids, for contacts that appear any
 * other way (contacts/link-earlier-purchases.ts, under the same locks). The open checkouts stored before the contact
 * existed (or before it held this customer id or this number) are linked to
 * it as record-checkout.ts would link them now: the customer's, and those of
 * no customer whose numbers name this contact alone (buyer-contact-sql.ts; a
 * checkout naming another customer never is). The newest
 * LATE_CHECKOUTS_PER_CONTACT updated within LATE_CHECKOUT_WINDOW_HOURS; a
 * completed one is left as it is (no reminder is due for it). The contact row
 * is locked first (FOR NO KEY UPDATE), then the checkouts: the order a flow's
 * send step takes them in (flows/order-placed-since.ts). Returns the tokens
 * linked; the caller queues their abandoned-checkout trigger, whose job
 * decides on consent, completion and purchases as for any checkout.
 */
export async function linkCustomerCheckouts(tx: Tx, o: { shopId: string } & LateContacts): Promise<string[]> {
  if (o.contactIds !== undefined && o.contactIds.length === 0) return [];
  const rows = await tx.$queryRaw<{ token: string }[]>`
    WITH ${lateContactsCte(o.shopId, o)}, cand AS (
      SELECT c.id AS contact_id, k.token, k.shopify_updated_at FROM shopify_checkouts k JOIN c ON k.customer_id = c.shopify_customer_id
       WHERE k.shop_id = ${o.shopId}::uuid AND k.contact_id IS NULL AND k.completed_at IS NULL
         AND k.shopify_updated_at > now() - make_interval(hours => ${LATE_CHECKOUT_WINDOW_HOURS}::int)
      UNION
      SELECT c.id, k.token, k.shopify_updated_at FROM shopify_checkouts k JOIN c ON k.buyer_phone_hashes @> ARRAY[c.phone_hash]
       WHERE k.shop_id = ${o.shopId}::uuid AND k.customer_id IS NULL AND k.contact_id IS NULL AND k.completed_at IS NULL
         AND k.buyer_phone_hashes <> '{}' AND k.buyer_phone_hashes && (SELECT array_agg(phone_hash) FROM c)
         AND k.shopify_updated_at > now() - make_interval(hours => ${LATE_CHECKOUT_WINDOW_HOURS}::int)
         AND NOT EXISTS (SELECT 1 FROM contacts x
                          WHERE x.shop_id = k.shop_id AND x.erased_at IS NULL AND x.id <> c.id AND x.phone_hash = ANY(k.buyer_phone_hashes))
    ), pick AS (
      SELECT DISTINCT ON (token) contact_id, token FROM (
        SELECT contact_id, token, row_number() OVER (PARTITION BY contact_id ORDER BY shopify_updated_at DESC, token) AS n FROM cand) r
       WHERE n <= ${LATE_CHECKOUTS_PER_CONTACT}::int
       ORDER BY token, contact_id
    )
    UPDATE shopify_checkouts k SET contact_id = pick.contact_id, updated_at = now()
      FROM pick
     WHERE k.shop_id = ${o.shopId}::uuid AND k.token = pick.token AND k.contact_id IS NULL AND k.completed_at IS NULL
    RETURNING k.token`;
  return rows.map((r) => r.token);
}
