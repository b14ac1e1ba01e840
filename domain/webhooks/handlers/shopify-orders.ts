import type { Tx } from '../../../lib/db';
import { recordShopifyCheckout } from '../../checkouts/record-checkout';
import { queueFlowTrigger } from '../../flows/queue-flow-trigger';
import { attributeOrder } from '../../orders/attribute-order';
import { buyerPhoneList, buyerPhones, type BuyerPhones } from '../../orders/buyer-phones';
import { cancelShopifyOrder } from '../../orders/cancel-order';
import { lockBuyerPhones } from '../../orders/buyer-phone-lock';
import { lockShopifyCustomer } from '../../orders/customer-lock';
import { phoneHash } from '../../contacts/phone';
import { countAttribution, countWithdrawal } from '../../orders/count-attribution';
import { recordShopifyOrder, type ShopifyOrderInput } from '../../orders/record-order';
import { recordRefundTransactions, type RecordRefundResult } from '../../orders/record-refund';
import { refundTransactionFact, refundTransactionFacts, type RefundMoneyPart } from '../../orders/refund-amounts';
import { inEventTransaction } from '../event-transaction';
import { publishAfterCommit } from '../publish-after-commit';
import {
  checkoutSchema,
  orderCancelledSchema,
  orderSchema,
  orderTransactionSchema,
  refundSchema,
  shopifyTransactionOf,
  type ShopifyCheckoutBody,
  type ShopifyOrderBody,
  type ShopifyOrderTransactionBody,
  type ShopifyRefundBody,
} from '../shopify-payloads';
import type { WebhookHandler } from '../types';

/**
 * The stored body is cut down to what the record keeps (still a valid body of
 * its topic, so a replay does the same thing): an order body carries
 * addresses, emails and line items up to the 1 MiB limit, none of which we
 * need. What remains (customer id, the buyer's numbers) is what
 * customers/redact scrubs.
 */
async function minimizePayload(tx: Tx, eventId: string, body: Record<string, unknown>): Promise<void> {
  await tx.$executeRaw`UPDATE webhook_events SET payload = ${JSON.stringify(body)}::jsonb WHERE id = ${eventId}::uuid`;
}

/** The buyer's numbers of an order or checkout body, read by the one rule (domain/orders/buyer-phones.ts). */
const buyerPhonesOf = (o: ShopifyOrderBody | ShopifyCheckoutBody): BuyerPhones =>
  buyerPhones({ orderPhone: o.phone ?? null, customerPhone: o.customer?.phone ?? null, billing: o.billing_address ?? null, shipping: o.shipping_address ?? null });

function minimalOrder(o: ShopifyOrderBody): Record<string, unknown> {
  // Only the numbers read, as E.164 (a replay reads them the same without the
  // addresses' countries); an address kept is its number alone.
  const phones = buyerPhonesOf(o);
  return {
    id: o.id,
    total_price: o.total_price,
    currency: o.currency,
    created_at: o.created_at,
    // Only when set: an orders/cancelled body needs it to be replayed as one.
    ...(o.cancelled_at ? { cancelled_at: o.cancelled_at } : {}),
    // Only when set: a replay must store a test order as one again.
    ...(o.test ? { test: true } : {}),
    customer: o.customer ? { id: o.customer.id ?? null, phone: phones.customer } : null,
    phone: phones.order,
    ...(phones.billing ? { billing_address: { phone: phones.billing } } : {}),
    ...(phones.shipping ? { shipping_address: { phone: phones.shipping } } : {}),
    landing_site: o.landing_site,
    referring_site: o.referring_site,
    source_name: o.source_name,
    discount_codes: o.discount_codes.map((code) => ({ code })),
  };
}

const moneyBag = (m: RefundMoneyPart['money']) => ({
  shop_money: { amount: m.shop.amount, currency_code: m.shop.currency },
  presentment_money: { amount: m.presentment.amount, currency_code: m.presentment.currency },
});

/**
 * A refund as its record reads it: no note, no line item's product, only its
 * transactions and its money bags (each added part as a line item's
 * subtotal, each subtracted one as an order adjustment: the same totals).
 */
function minimalRefund(r: ShopifyRefundBody): Record<string, unknown> {
  return {
    id: r.id,
    order_id: r.order_id,
    created_at: r.created_at,
    processed_at: r.processed_at ?? null,
    transactions: r.transactions.map((t) => ({ id: t.id, parent_id: t.parent_id ?? null, kind: t.kind, status: t.status ?? null, amount: t.amount, currency: t.currency ?? null })),
    refund_line_items: r.parts.filter((p) => p.sign === 1).map((p) => ({ subtotal_set: moneyBag(p.money) })),
    order_adjustments: r.parts.filter((p) => p.sign === -1).map((p) => ({ amount_set: moneyBag(p.money) })),
  };
}

/** A transaction as its record reads it (no gateway, receipt or payment details). */
function minimalTransaction(t: ShopifyOrderTransactionBody): Record<string, unknown> {
  return {
    id: t.id,
    order_id: t.order_id,
    parent_id: t.parent_id ?? null,
    kind: t.kind,
    status: t.status ?? null,
    amount: t.amount,
    currency: t.currency ?? null,
    created_at: t.created_at ?? null,
  };
}

function minimalCheckout(c: ShopifyCheckoutBody): Record<string, unknown> {
  // As an order's (minimalOrder): only the numbers read, in E.164, so a
  // replay reads them the same and customers/redact finds them by number.
  const phones = buyerPhonesOf(c);
  return {
    token: c.token,
    abandoned_checkout_url: c.abandoned_checkout_url,
    updated_at: c.updated_at,
    completed_at: c.completed_at ?? null,
    customer: c.customer ? { id: c.customer.id ?? null, phone: phones.customer } : null,
    phone: phones.order,
    ...(phones.billing ? { billing_address: { phone: phones.billing } } : {}),
    ...(phones.shipping ? { shipping_address: { phone: phones.shipping } } : {}),
  };
}

const ignore: WebhookHandler = (ctx) => inEventTransaction(ctx, async () => ({ outcome: 'ignored' }));

/** What the order record keeps of an orders/create or orders/cancelled body. */
function orderInput(shopId: string, o: ShopifyOrderBody): ShopifyOrderInput {
  return {
    shopId,
    orderId: o.id,
    customerId: o.customer?.id ?? null,
    phones: buyerPhoneList(buyerPhonesOf(o)),
    totalPrice: o.total_price,
    currency: o.currency,
    orderedAt: new Date(Date.parse(o.created_at)),
    landingSite: o.landing_site,
    referringSite: o.referring_site,
    sourceName: o.source_name,
    discountCodes: o.discount_codes,
    cancelledAt: o.cancelled_at ? new Date(Date.parse(o.cancelled_at)) : null,
    test: o.test === true,
  };
}

/**
 * The order's buyer, locked before the order is recorded, as the customers/*
 * webhooks lock theirs before they create a contact and link its orders: the
 * customer's lock (customer-lock.ts), or, for an order of no customer, which
 * only a number links (link-customer-orders.ts), its numbers' (buyer-phone-lock.ts).
 */
async function lockOrderBuyer(tx: Tx, o: ShopifyOrderInput): Promise<void> {
  if (o.customerId) await lockShopifyCustomer(tx, o.shopId, o.customerId);
  else await lockBuyerPhones(tx, o.shopId, o.phones.map(phoneHash));
}

/**
 * orders/create: the order stored once per shop and order id; the contact's
 * summary moves only with that insert, and so does its attribution to a
 * campaign (domain/orders/attribute-order.ts), in the same transaction. A
 * test order (`"test": true`, a test gateway) is stored, and that is all: no
 * summary, no attribution, no post-purchase flow (docs/shopify.md).
 */
export const shopifyOrderCreated: WebhookHandler = async (ctx) => {
  const { deps, event } = ctx;
  const shopId = event.shop_id;
  if (!shopId) return ignore(ctx);
  const o = orderSchema.parse(event.payload);
  return inEventTransaction(ctx, async (tx) => {
    // Against the contact being created meanwhile, which would link this order to nobody (link-customer-orders.ts).
    const input = orderInput(shopId, o);
    await lockOrderBuyer(tx, input);
    const result = await recordShopifyOrder(tx, input);
    // A test order (recorded with no contact anyway: record-order.ts) earns nothing and starts no flow.
    const contactId = result.outcome === 'recorded' && !o.test ? result.contactId : null;
    const attributed = contactId !== null ? await attributeOrder(tx, { shopId, orderId: o.id, contactId }) : null;
    // Post-purchase flows: only the delivery that stored the order (a duplicate starts nothing twice anyway).
    // An order stored with no contact is queued when its customer's contact appears (link-customer-orders.ts),
    // one whose contact is not subscribed yet when it subscribes (the consent record trigger): docs/flows.md.
    if (contactId !== null) {
      publishAfterCommit(ctx, await queueFlowTrigger(tx, { shopId, trigger: { kind: 'order_created', orderId: o.id }, traceId: event.trace_id }), 'flow trigger');
    }
    await minimizePayload(tx, event.id, minimalOrder(o));
    ctx.afterCommit(() => {
      if (attributed) countAttribution(deps.metrics, attributed);
      deps.logger.info(
        { webhookEventId: event.id, shopId, outcome: result.outcome, test: o.test === true, linked: result.outcome === 'recorded' && result.contactId !== null, attributedTo: attributed?.campaignId ?? attributed?.flowId, attribution: attributed?.kind },
        'shopify order',
      );
    });
    return { outcome: 'processed', shopId };
  });
};

/**
 * orders/cancelled: a cancelled order earns nothing. Shopify does not order
 * its webhooks, so this may come before orders/create: the order is recorded
 * from this body as orders/create would record it (summary included, once),
 * but cancelled, so the orders/create after it is a duplicate and nothing
 * attributes it; an order recorded before loses its attribution
 * (domain/orders/cancel-order.ts). No post-purchase flow starts for it.
 */
export const shopifyOrderCancelled: WebhookHandler = async (ctx) => {
  const { deps, event } = ctx;
  const shopId = event.shop_id;
  if (!shopId) return ignore(ctx);
  const o = orderCancelledSchema.parse(event.payload);
  const cancelledAt = new Date(Date.parse(o.cancelled_at));
  return inEventTransaction(ctx, async (tx) => {
    const input = orderInput(shopId, o);
    await lockOrderBuyer(tx, input);
    const result = await recordShopifyOrder(tx, input);
    const withdrawn = await cancelShopifyOrder(tx, { shopId, orderId: o.id, cancelledAt });
    await minimizePayload(tx, event.id, minimalOrder(o));
    ctx.afterCommit(() => {
      if (withdrawn) countWithdrawal(deps.metrics, 'cancelled', withdrawn.currency, withdrawn.totalMinor - withdrawn.refundedMinor);
      deps.logger.info(
        { webhookEventId: event.id, shopId, recorded: result.outcome === 'recorded', withdrawnFrom: withdrawn?.campaignId ?? withdrawn?.flowId, attribution: withdrawn?.kind },
        'shopify order cancelled',
      );
    });
    return { outcome: 'processed', shopId };
  });
};

/** The log line and counter of a write to an order's refund transactions. */
function afterRefundWrite(ctx: Parameters<WebhookHandler>[0], what: Record<string, unknown>, result: RecordRefundResult, message: string): void {
  const { deps, event } = ctx;
  ctx.afterCommit(() => {
    const withdrawn = result.outcome === 'recorded' ? result.withdrawn : null;
    if (withdrawn) countWithdrawal(deps.metrics, 'refund', withdrawn.currency, withdrawn.amountMinor);
    deps.logger.info(
      {
        webhookEventId: event.id,
        shopId: event.shop_id,
        ...what,
        outcome: result.outcome,
        withdrawnFrom: withdrawn?.campaignId ?? withdrawn?.flowId,
        withdrawnMinor: withdrawn ? String(withdrawn.amountMinor) : undefined,
      },
      message,
    );
  });
}

/**
 * refunds/create: the refund's transactions of kind `refund`, stored once per
 * transaction with where each stands (domain/orders/record-refund.ts); every
 * figure of what a campaign or flow earned is read net of the successful
 * ones, in the order's currency (a transaction paid in the customer's by its
 * part of the refund in the shop's: refund-amounts.ts). Shopify does not
 * order its webhooks: a refund that comes before its order's orders/create
 * is stored all the same and counts once the order is attributed, and one
 * pending now counts when order_transactions/create reports it succeeded,
 * before or after this. The body must be a refund's (shopify-payloads.ts
 * refundSchema): another topic's signed body sent under this topic is
 * refused at the route.
 */
export const shopifyRefundCreated: WebhookHandler = async (ctx) => {
  const { event } = ctx;
  const shopId = event.shop_id;
  if (!shopId) return ignore(ctx);
  const r = refundSchema.parse(event.payload);
  const facts = refundTransactionFacts(r.id, r.transactions.map(shopifyTransactionOf), r.parts);
  return inEventTransaction(ctx, async (tx) => {
    const result = await recordRefundTransactions(tx, { shopId, orderId: r.order_id, facts });
    await minimizePayload(tx, event.id, minimalRefund(r));
    afterRefundWrite(
      ctx,
      { orderId: r.order_id, refundId: r.id, transactions: facts.map((f) => `${f.transactionId} ${f.state} ${f.amountMinor} ${f.currency}${f.shop ? ` (${f.shop.amountMinor} ${f.shop.currency})` : ''}`).join(', ') },
      result,
      'shopify refund',
    );
    return { outcome: 'processed', shopId };
  });
};

/**
 * order_transactions/create: a transaction of an order, sent when it is
 * created and for its later states. A refund's (kind `refund`) is stored as
 * refunds/create stores its transactions, by id, merged under the order's
 * lock (record-refund.ts): a refund transaction `pending` when its
 * refunds/create came, and successful now, counts from now on, once,
 * whichever of the two arrives first and however often (a later state
 * reported as a new transaction whose parent is the pending one is the same
 * money). Any other kind (sales, captures, …) never reaches here: the route
 * answers it without storing it (shopify-payloads.ts actedOn); one stored
 * before that, or replayed, is marked ignored. The body must be a
 * transaction's (shopify-payloads.ts orderTransactionSchema).
 */
export const shopifyOrderTransactionCreated: WebhookHandler = async (ctx) => {
  const { deps, event } = ctx;
  const shopId = event.shop_id;
  if (!shopId) return ignore(ctx);
  const t = orderTransactionSchema.parse(event.payload);
  const fact = refundTransactionFact(shopifyTransactionOf(t), null);
  return inEventTransaction(ctx, async (tx) => {
    await minimizePayload(tx, event.id, minimalTransaction(t));
    if (!fact) {
      ctx.afterCommit(() => deps.logger.debug({ webhookEventId: event.id, shopId, kind: t.kind }, 'shopify transaction ignored'));
      return { outcome: 'ignored', shopId };
    }
    const result = await recordRefundTransactions(tx, { shopId, orderId: t.order_id, facts: [fact] });
    afterRefundWrite(ctx, { orderId: t.order_id, transactionId: t.id, parentId: t.parent_id ?? undefined, state: fact.state }, result, 'shopify refund transaction');
    return { outcome: 'processed', shopId };
  });
};

/**
 * checkouts/create, checkouts/update: upserted by token, the newest
 * `updated_at` winning. The buyer's numbers are an order's (buyer-phones.ts):
 * the same checkout must reach the same contact as the order it becomes.
 */
export const shopifyCheckout: WebhookHandler = async (ctx) => {
  const { deps, event } = ctx;
  const shopId = event.shop_id;
  if (!shopId) return ignore(ctx);
  const c = checkoutSchema.parse(event.payload);
  const phones = buyerPhoneList(buyerPhonesOf(c));
  return inEventTransaction(ctx, async (tx) => {
    // As an order: against its buyer's contact being created meanwhile (link-customer-checkouts.ts).
    if (c.customer?.id) await lockShopifyCustomer(tx, shopId, c.customer.id);
    else await lockBuyerPhones(tx, shopId, phones.map(phoneHash));
    const outcome = await recordShopifyCheckout(tx, {
      shopId,
      token: c.token,
      customerId: c.customer?.id ?? null,
      phones,
      abandonedCheckoutUrl: c.abandoned_checkout_url,
      updatedAt: new Date(Date.parse(c.updated_at)),
      completedAt: c.completed_at ? new Date(Date.parse(c.completed_at)) : null,
    });
    // Abandoned-checkout flows: an open checkout with a buyer to find; the job decides on the contact, consent and orders.
    if (outcome === 'stored' && !c.completed_at && (phones.length > 0 || c.customer?.id)) {
      publishAfterCommit(ctx, await queueFlowTrigger(tx, { shopId, trigger: { kind: 'checkout_abandoned', token: c.token }, traceId: event.trace_id }), 'flow trigger');
    }
    await minimizePayload(tx, event.id, minimalCheckout(c));
    ctx.afterCommit(() => deps.logger.debug({ webhookEventId: event.id, shopId, outcome }, 'shopify checkout'));
    return { outcome: 'processed', shopId };
  });
};
