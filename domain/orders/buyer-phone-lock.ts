import type { Tx } from '../../lib/db';
import { lockBuckets } from './bucket-locks';

/**
 * The number's counterpart of lockShopifyCustomer (customer-lock.ts). An
 * order found by its buyer's number alone (no customer id, so no customer
 * lock) and a customers/* webhook creating the contact of that number, or
 * moving a contact to it, run in separate transactions: without this, the
 * order's statement cannot see the uncommitted contact and the webhook's
 * link step cannot see the uncommitted order, so neither links it. Both take
 * this transaction lock on (shop, phone hash) after the customer's lock and
 * before any contact row, so the second runs its statements after the first
 * committed (READ COMMITTED) and links the order, once. A checkout of no
 * customer takes it as an order does (link-customer-checkouts.ts). Several numbers (an
 * order has up to four) are locked in one statement, in key order and by
 * bucket (bucket-locks.ts: a chunk of a thousand numbers holds at most
 * LOCK_BUCKETS locks), so two holders never wait on each other in a cycle; a webhook takes one, and a
 * contact written any other way (the API, an import's or a sync's chunk:
 * contacts/link-earlier-purchases.ts) its numbers, after any
 * customer's lock.
 */
export async function lockBuyerPhones(tx: Tx, shopId: string, phoneHashes: string[]): Promise<void> {
  await lockBuckets(tx, 'buyer-phone', shopId, phoneHashes);
}
