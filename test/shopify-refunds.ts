import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import type { Db } from '../lib/db';
import type { ShopFixture } from './factories';
import { sessionToken } from './session-token';

// Bodies of Shopify's refunds/create and order_transactions/create as the
// REST webhooks carry them (API 2025-10), for a store selling in its own
// currency or, through Shopify Markets, in the customer's (presentment)
// currency: money bags give each figure of a refund in both, a transaction
// is in the currency the customer paid in.

let seq = 0;
/** A Shopify id, unique within a test file's run. */
export const nextShopifyId = (): number => Date.now() * 1000 + (seq++ % 1000);

/** A money bag: the shop's figure and the customer's. */
export const moneyBag = (shop: string, presentment: string, currencies: [string, string] = ['USD', 'EUR']) => ({
  shop_money: { amount: shop, currency_code: currencies[0] },
  presentment_money: { amount: presentment, currency_code: currencies[1] },
});

export interface TransactionInput {
  id?: number;
  /** The sale it refunds by default; a refund transaction's id for a later state reported as a new transaction. */
  parentId?: number;
  kind?: string;
  status: string;
  amount: string;
  currency: string;
}

/** A transaction as order_transactions/create (and, inside a refund, refunds/create) carries it, payment details included. */
export type TransactionBody = Record<string, unknown> & { id: number };

export function transactionBody(orderId: number, t: TransactionInput): TransactionBody {
  const id = t.id ?? nextShopifyId();
  return {
    id,
    order_id: orderId,
    kind: t.kind ?? 'refund',
    gateway: 'shopify_payments',
    status: t.status,
    message: t.status === 'pending' ? 'Pending' : null,
    created_at: new Date().toISOString(),
    test: false,
    authorization: null,
    location_id: null,
    user_id: null,
    parent_id: t.parentId ?? orderId + 1,
    processed_at: new Date().toISOString(),
    device_id: null,
    error_code: null,
    source_name: 'web',
    payment_details: { credit_card_bin: '424242', credit_card_number: '•••• •••• •••• 4242', credit_card_company: 'Visa' },
    receipt: { refund_id: 're_fake' },
    amount: t.amount,
    currency: t.currency,
    payment_id: `#1001.${id}`,
    total_unsettled_set: moneyBag('0.00', '0.00', [t.currency, t.currency]),
    manual_payment_gateway: false,
    admin_graphql_api_id: `gid://shopify/OrderTransaction/${id}`,
  };
}

export interface RefundInput {
  id?: number;
  transactions: TransactionInput[];
  /** Each refunded line item's subtotal and tax, [shop, presentment] (none: a refund with no money bags). */
  lineItems?: { subtotal: [string, string]; tax: [string, string] }[];
  /** Order adjustments, [shop, presentment], as Shopify writes them (a shipping refund is negative). */
  adjustments?: [string, string][];
  /** [shop currency, presentment currency]. */
  currencies?: [string, string];
}

/** A Refund as refunds/create carries it. */
export function refundBody(orderId: number, r: RefundInput): Record<string, unknown> & { id: number; transactions: TransactionBody[] } {
  const currencies = r.currencies ?? ['USD', 'EUR'];
  const id = r.id ?? nextShopifyId();
  return {
    id,
    order_id: orderId,
    created_at: new Date().toISOString(),
    note: 'Arrived damaged',
    user_id: 42,
    processed_at: new Date().toISOString(),
    restock: false,
    duties: [],
    total_duties_set: moneyBag('0.00', '0.00', currencies),
    additional_fees: [],
    total_additional_fees_set: moneyBag('0.00', '0.00', currencies),
    return: null,
    refund_shipping_lines: [],
    admin_graphql_api_id: `gid://shopify/Refund/${id}`,
    refund_line_items: (r.lineItems ?? []).map((l, i) => ({
      id: id + i + 1,
      quantity: 1,
      line_item_id: 1,
      location_id: null,
      restock_type: 'no_restock',
      subtotal: Number(l.subtotal[0]),
      total_tax: Number(l.tax[0]),
      subtotal_set: moneyBag(l.subtotal[0], l.subtotal[1], currencies),
      total_tax_set: moneyBag(l.tax[0], l.tax[1], currencies),
      line_item: { id: 1, title: 'Linen shirt', quantity: 1, price: l.subtotal[0] },
    })),
    transactions: r.transactions.map((t) => transactionBody(orderId, t)),
    order_adjustments: (r.adjustments ?? []).map(([shop, presentment], i) => ({
      id: id + 100 + i,
      order_id: orderId,
      refund_id: id,
      amount: shop,
      tax_amount: '0.00',
      kind: 'shipping_refund',
      reason: 'Shipping refund',
      amount_set: moneyBag(shop, presentment, currencies),
      tax_amount_set: moneyBag('0.00', '0.00', currencies),
    })),
  };
}

/**
 * An order as orders/create carries it: `total_price` and `currency` are the
 * shop's (what is stored); with `presentment`, the customer paid in another
 * currency (`presentment_currency`, the total's presentment money).
 */
export function orderBody(phone: string, total: string, o: { id?: number; currency?: string; presentment?: { currency: string; total: string } } = {}) {
  const currency = o.currency ?? 'USD';
  const presentment = o.presentment ?? { currency, total };
  return {
    id: o.id ?? nextShopifyId(),
    created_at: new Date().toISOString(),
    cancelled_at: null,
    total_price: total,
    currency,
    presentment_currency: presentment.currency,
    total_price_set: moneyBag(total, presentment.total, [currency, presentment.currency]),
    customer: { id: nextShopifyId(), phone },
    phone,
    landing_site: '/sale',
    referring_site: null,
    source_name: 'web',
    discount_codes: [],
    line_items: [{ id: 1, title: 'Linen shirt', quantity: 1 }],
  };
}

/** A sent campaign that reached the contact an hour ago: the contact's orders are its (view). */
export async function deliveredCampaign(db: Db, shop: ShopFixture, contactId: string): Promise<string> {
  const hourAgo = new Date(Date.now() - 3_600_000);
  const [c] = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO campaigns (shop_id, name, body, status) VALUES (${shop.id}::uuid, 'Refunds', 'Sale https://refunds.example/x', 'completed') RETURNING id`;
  await db.$executeRaw`
    INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, provider_message_id, segments, sent_at, final_at)
    VALUES (${c!.id}::uuid, ${contactId}::uuid, 0, 'delivered', ${`p-${randomUUID()}`}, 1, ${hourAgo}, ${hourAgo})`;
  return c!.id;
}

/** A flow (made through the api) whose message was delivered to the contact an hour ago: the contact's orders are its (view). */
export async function deliveredFlow(app: Express, db: Db, shop: ShopFixture, contactId: string): Promise<string> {
  const created = await request(app)
    .post('/api/flows')
    .set('Authorization', `Bearer ${await sessionToken(shop.domain)}`)
    .set('Idempotency-Key', randomUUID())
    .send({ name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks!' }] });
  if (created.status !== 201) throw new Error(`POST /api/flows answered ${created.status}`);
  const flow = { id: created.body.id as string, versionId: created.body.currentVersion.id as string };
  const hourAgo = new Date(Date.now() - 3_600_000);
  const [run] = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, status, ended_at)
    VALUES (${flow.id}::uuid, ${flow.versionId}::uuid, ${shop.id}::uuid, ${contactId}::uuid, 'order_created', ${randomUUID()}, ${hourAgo}, 'completed', ${hourAgo})
    RETURNING id::text`;
  await db.$executeRaw`
    INSERT INTO flow_messages (run_id, step, shop_id, flow_id, version_id, contact_id, status, segments, credits, provider_message_id, sent_at, delivered_at, final_at)
    VALUES (${run!.id}::bigint, 0, ${shop.id}::uuid, ${flow.id}::uuid, ${flow.versionId}::uuid, ${contactId}::uuid, 'delivered', 1, 1, ${`pm-${randomUUID()}`}, ${hourAgo}, ${hourAgo}, ${hourAgo})`;
  return flow.id;
}
