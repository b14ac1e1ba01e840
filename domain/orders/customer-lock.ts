import type { Tx } from '../../lib/db';
import { lockBuckets } from './bucket-locks';

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
  await lockShopifyCustomers(tx, shopId, [customerId]);
}

/**
 * lockShopifyCustomer for many customers in one statement (the install/resync
 * sync's chunk): the same keys, bucketed (bucket-locks.ts), so a webhook of
 * one of them waits, or is waited for; taken in key order, so two such
 * holders never wait on each other in a cycle.
 */
export async function lockShopifyCustomers(tx: Tx, shopId: string, customerIds: string[]): Promise<void> {
  await lockBuckets(tx, 'shopify-customer', shopId, customerIds);
}
