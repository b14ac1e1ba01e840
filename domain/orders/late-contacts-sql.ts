import { sql, type Sql } from '../../lib/db';

/**
 * Which contacts a late link (link-customer-orders.ts,
 * link-customer-checkouts.ts) is for: the contact of one Shopify customer
 * (the customers/* webhooks), or contacts by id (a contact that appeared any
 * other way: the API, an import, the install sync), many at once in one
 * statement.
 */
export type LateContacts = { customerId: string; contactIds?: undefined } | { contactIds: string[]; customerId?: undefined };

/**
 * The CTE `c` (id, phone_hash, shopify_customer_id) of those contacts, live
 * ones only, locked FOR NO KEY UPDATE in id order (as a consent change takes
 * a contact row, and so that two links of overlapping sets never wait on
 * each other in a cycle).
 */
export function lateContactsCte(shopId: string, who: LateContacts): Sql {
  const match =
    who.customerId !== undefined
      ? sql`shopify_customer_id = ${who.customerId} AND erased_at IS NULL ORDER BY id LIMIT 1`
      : sql`id = ANY(${who.contactIds}::uuid[]) AND erased_at IS NULL ORDER BY id`;
  return sql`
    c AS (
      SELECT id, phone_hash, shopify_customer_id FROM contacts
       WHERE shop_id = ${shopId}::uuid AND ${match}
         FOR NO KEY UPDATE
    )`;
}
