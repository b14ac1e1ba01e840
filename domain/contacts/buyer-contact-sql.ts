import { sql, type Sql } from '../../lib/db';

/**
 * The CTEs `by_customer`, `by_phone` and `target` that find the shop's
 * contact a Shopify buyer is (an order's or a checkout's): the one holding
 * the customer id; else the one the buyer's numbers name, only when they
 * name exactly one (one contact per shop and phone hash, so two rows are two
 * people). A buyer with a customer id is never found by number in a contact
 * holding another customer id: that contact is another known customer, and a
 * number (a shared or passed-on one, or a stale record) does not make the
 * buyer them; a buyer with no customer id may be. Erased contacts never
 * match; another shop's never can.
 */
export function buyerContactCtes(shopId: string, customerId: string | null, phoneHashes: string[]): Sql {
  return sql`
    by_customer AS (
      SELECT id FROM contacts
       WHERE shop_id = ${shopId}::uuid AND erased_at IS NULL
         AND ${customerId}::text IS NOT NULL AND shopify_customer_id = ${customerId}::text
    ), by_phone AS (
      SELECT id FROM contacts
       WHERE shop_id = ${shopId}::uuid AND erased_at IS NULL AND phone_hash = ANY(${phoneHashes}::text[])
         AND (${customerId}::text IS NULL OR shopify_customer_id IS NULL)
         AND NOT EXISTS (SELECT 1 FROM by_customer)
    ), target AS (
      SELECT id FROM by_customer
      UNION ALL
      SELECT id FROM by_phone WHERE (SELECT count(*) FROM by_phone) = 1
    )`;
}
