import type { Tx } from '../../lib/db';
import { linkCustomerCheckouts } from '../checkouts/link-customer-checkouts';
import { queueFlowTriggers } from '../flows/queue-flow-trigger';
import { linkCustomerOrders } from '../orders/link-customer-orders';
import type { OutboxRow } from '../outbox/outbox';

export interface EarlierPurchases {
  orderIds: string[];
  checkoutTokens: string[];
  /** The flows.trigger.v1 events written (order_created, then checkout_abandoned), for publishing after commit. */
  triggers: OutboxRow[];
}

/**
 * A contact that appeared other than by a customers/* webhook (the API, a
 * PATCH moving it to a number, a contact import's chunk, the install sync)
 * links what the webhook would have linked: the orders and open checkouts
 * stored before it (or before it held its number) that its number alone
 * names, and its customer's if it holds a customer id, within the same 24
 * hours and 5 each (linkCustomerOrders, linkCustomerCheckouts: one statement
 * each for all the contacts). Their flow triggers are queued as the webhook
 * queues them: an order's only if the contact is subscribed now, a
 * checkout's always (its job decides on consent, completion and purchases).
 * The caller holds, before any contact row of the transaction,
 * lockShopifyCustomer of each customer id the contacts hold, then
 * lockBuyerPhones of their numbers (the order orders/create, checkouts/* and
 * the customers/* webhooks take them in), so an order or checkout stored
 * while the contact is being created is linked by one of the two.
 */
export async function linkEarlierPurchases(tx: Tx, o: { shopId: string; contactIds: string[]; traceId: string | null }): Promise<EarlierPurchases> {
  if (o.contactIds.length === 0) return { orderIds: [], checkoutTokens: [], triggers: [] };
  const orders = await linkCustomerOrders(tx, { shopId: o.shopId, contactIds: o.contactIds, traceId: o.traceId });
  const checkoutTokens = await linkCustomerCheckouts(tx, { shopId: o.shopId, contactIds: o.contactIds });
  const checkoutTriggers = await queueFlowTriggers(tx, {
    shopId: o.shopId,
    triggers: checkoutTokens.map((token) => ({ kind: 'checkout_abandoned' as const, token })),
    traceId: o.traceId,
  });
  return { orderIds: orders.orderIds, checkoutTokens, triggers: [...orders.triggers, ...checkoutTriggers] };
}
