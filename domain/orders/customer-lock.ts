import type { Tx } from '../../lib/db';

/**
 * orders/create and the customers/* webhooks of one Shopify customer run in
 * separate transactions, in whatever order Shopify delivers them. Without
 * this, an order stored while the customer's contact is being created would
 * be linked by neither: the order's statement cannot see the uncommitted
 * contact, and the contact's link step cannot see the uncommitted order. Both
 * take this transaction lock, before any contact row, so the second runs its
 * statements after the first committed (READ COMMITTED: a new snapshot per
 * statement) and links the order, once. checkouts/* takes it too, for the
 * same reason (link-customer-checkouts.ts).
 */
export async function lockShopifyCustomer(tx: Tx, shopId: string, customerId: string): Promise<void> {
  await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtextextended('shopify-customer:' || ${shopId}::text || ':' || ${customerId}::text, 0))`;
}

/**
 * lockShopifyCustomer for many customers in one statement (the install/resync
 * sync's chunk), the ids sorted so two such holders never wait on each other
 * in a cycle. The same key: a webhook of one of them waits, or is waited for.
 */
export async function lockShopifyCustomers(tx: Tx, shopId: string, customerIds: string[]): Promise<void> {
  const sorted = [...new Set(customerIds)].sort();
  if (sorted.length === 0) return;
  // unnest keeps the array's order, so the locks are taken in it.
  await tx.$queryRaw`
    SELECT count(pg_advisory_xact_lock(hashtextextended('shopify-customer:' || ${shopId}::text || ':' || id, 0)))::int AS n
      FROM unnest(${sorted}::text[]) AS u(id)`;
}
