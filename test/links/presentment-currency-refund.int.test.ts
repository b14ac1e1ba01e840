import type { Express } from 'express';
import request from 'supertest';
import type { WorkerDeps } from '../../apps/worker/src/deps';
import { checkShopifyBody } from '../../domain/webhooks/shopify-payloads';
import { createContact, createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { deliveredCampaign as campaignReaching, deliveredFlow as flowReaching, orderBody, refundBody } from '../shopify-refunds';
import { counterValue, deliverShopify, postShopify } from '../webhooks';

// A store selling in its customers' currencies (Shopify Markets): the order is
// stored in the shop's currency (orders/create's total_price and currency),
// while a refund's transactions are in the currency the customer paid in. A
// refund counts in the order's currency by its part of the refund's
// shop-money total (its line items, tax and adjustments as Shopify converted
// them), never through an exchange rate of ours: exact minor units, once per
// transaction however often delivered, before or after the order.

describe("a refund paid in the customer's currency", () => {
  let env: TestEnv;
  let app: Express;
  let worker: WorkerDeps;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    ({ deps: worker } = await env.worker({ queues: ['webhooks'] }));
  });
  afterAll(async () => {
    await env.close();
  });

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;
  const campaignStats = async (shop: ShopFixture, campaignId: string) =>
    (await request(app).get(`/api/campaigns/${campaignId}/stats`).set('Authorization', await auth(shop))).body as Record<string, unknown>;
  const flowStats = async (shop: ShopFixture, flowId: string) =>
    (await request(app).get(`/api/flows/${flowId}/stats`).set('Authorization', await auth(shop))).body as Record<string, unknown> & { steps: Record<string, unknown>[] };
  const counter = (name: 'attributedRevenue' | 'attributedRevenueWithdrawn', currency: string) =>
    counterValue(worker.metrics, name, name === 'attributedRevenue' ? { currency } : { currency, reason: 'refund' });
  const deliver = (shop: ShopFixture, topic: string, body: Record<string, unknown>) => deliverShopify(app, env.db, topic, body, shop.domain);

  const deliveredCampaign = (shop: ShopFixture, contactId: string) => campaignReaching(env.db, shop, contactId);
  const deliveredFlow = (shop: ShopFixture, contactId: string) => flowReaching(app, env.db, shop, contactId);

  it("takes each refund off the campaign's revenue by its shop-money figure, exactly, once, down to 0.00 when refunded in full", async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: '+447911123660' });
    const campaignId = await deliveredCampaign(shop, contact.id);
    // 108.00 USD in the shop's books; the customer paid 100.00 EUR.
    const order = orderBody(contact.phone, '108.00', { presentment: { currency: 'EUR', total: '100.00' } });
    expect(await deliver(shop, 'orders/create', order)).toBe('processed');
    expect(await campaignStats(shop, campaignId)).toMatchObject({ attributedOrders: 1, attributedRevenue: [{ currency: 'USD', orders: 1, amount: '108.00' }] });
    const withdrawnBefore = await counter('attributedRevenueWithdrawn', 'USD');

    // 50.00 EUR given back for a 50.00 USD item and its 4.00 USD tax (46.30 + 3.70 EUR): 54.00 USD off.
    const first = refundBody(order.id, {
      transactions: [{ status: 'success', amount: '50.00', currency: 'EUR' }],
      lineItems: [{ subtotal: ['50.00', '46.30'], tax: ['4.00', '3.70'] }],
    });
    expect(await deliver(shop, 'refunds/create', first)).toBe('processed');
    const half = { attributedOrders: 1, attributedRevenue: [{ currency: 'USD', orders: 1, amount: '54.00' }] };
    expect(await campaignStats(shop, campaignId)).toMatchObject(half);

    // Redelivered: the same bytes are a duplicate at the door, other bytes change nothing.
    const again = await postShopify(app, 'refunds/create', first, { shopDomain: shop.domain });
    expect(again.body).toEqual({ duplicate: true });
    expect(await deliver(shop, 'refunds/create', { ...first, note: 'resent' })).toBe('processed');
    expect(await campaignStats(shop, campaignId)).toMatchObject(half);

    // The rest: an item of 40.00 + 3.20 USD and the 10.80 USD shipping (an order adjustment, written negative): 54.00 USD for 50.00 EUR.
    const rest = refundBody(order.id, {
      transactions: [{ status: 'success', amount: '50.00', currency: 'EUR' }],
      lineItems: [{ subtotal: ['40.00', '37.04'], tax: ['3.20', '2.96'] }],
      adjustments: [['-10.80', '-10.00']],
    });
    expect(await deliver(shop, 'refunds/create', rest)).toBe('processed');
    expect(await campaignStats(shop, campaignId)).toMatchObject({ attributedOrders: 1, attributedRevenue: [{ currency: 'USD', orders: 1, amount: '0.00' }] });
    expect((await counter('attributedRevenueWithdrawn', 'USD')) - withdrawnBefore).toBeCloseTo(108, 6);

    const rows = await env.db.$queryRaw<{ currency: string; amount_minor: bigint; status: string; shop_currency: string; shop_amount_minor: bigint }[]>`
      SELECT currency, amount_minor, status, shop_currency, shop_amount_minor FROM shopify_refund_transactions
       WHERE shop_id = ${shop.id}::uuid AND order_id = ${String(order.id)} ORDER BY transaction_id`;
    expect(rows).toEqual([
      { currency: 'EUR', amount_minor: 5000n, status: 'success', shop_currency: 'USD', shop_amount_minor: 5400n },
      { currency: 'EUR', amount_minor: 5000n, status: 'success', shop_currency: 'USD', shop_amount_minor: 5400n },
    ]);
    // The stored payload keeps no note and no product, and is still a refunds/create body with the same figures (a replay does the same).
    const [stored] = await env.db.$queryRaw<{ payload: unknown }[]>`
      SELECT payload FROM webhook_events WHERE provider = 'shopify' AND shop_id = ${shop.id}::uuid AND topic = 'refunds/create' ORDER BY received_at DESC LIMIT 1`;
    const check = checkShopifyBody('refunds/create', stored!.payload);
    expect(check).toMatchObject({ known: true, valid: true });
    expect(JSON.stringify(stored!.payload)).not.toMatch(/damaged|Linen|shopify_payments|4242/i);
    expect(await deliver(shop, 'refunds/create', stored!.payload as Record<string, unknown>)).toBe('processed');
    expect(await campaignStats(shop, campaignId)).toMatchObject({ attributedRevenue: [{ currency: 'USD', orders: 1, amount: '0.00' }] });
  });

  it('counts a refund that arrives before its order the same, once the order is attributed', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: '+447911123661' });
    const campaignId = await deliveredCampaign(shop, contact.id);
    const order = orderBody(contact.phone, '60.00', { presentment: { currency: 'EUR', total: '55.20' } });
    const refund = refundBody(order.id, {
      transactions: [{ status: 'success', amount: '27.60', currency: 'EUR' }],
      lineItems: [{ subtotal: ['30.00', '27.60'], tax: ['0.00', '0.00'] }],
    });
    const revenueBefore = await counter('attributedRevenue', 'USD');
    const withdrawnBefore = await counter('attributedRevenueWithdrawn', 'USD');

    expect(await deliver(shop, 'refunds/create', refund)).toBe('processed');
    expect(await deliver(shop, 'orders/create', order)).toBe('processed');
    expect(await deliver(shop, 'refunds/create', { ...refund, note: 'redelivered' })).toBe('processed');
    expect(await campaignStats(shop, campaignId)).toMatchObject({ attributedOrders: 1, attributedRevenue: [{ currency: 'USD', orders: 1, amount: '30.00' }] });
    expect((await counter('attributedRevenue', 'USD')) - revenueBefore).toBeCloseTo(60, 6);
    expect((await counter('attributedRevenueWithdrawn', 'USD')) - withdrawnBefore).toBeCloseTo(30, 6);
  });

  it("nets a flow's revenue the same way, for the flow and its step (a euro shop, a customer paying in dollars)", async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: '+447911123662' });
    const flowId = await deliveredFlow(shop, contact.id);
    const order = orderBody(contact.phone, '50.00', { currency: 'EUR', presentment: { currency: 'USD', total: '54.00' } });
    expect(await deliver(shop, 'orders/create', order)).toBe('processed');
    // 21.60 USD back for 20.00 EUR; a refund of the same order paid in euros (the shop's own currency) counts as paid: 5.00.
    const refunds = [
      refundBody(order.id, { currencies: ['EUR', 'USD'], transactions: [{ status: 'success', amount: '21.60', currency: 'USD' }], lineItems: [{ subtotal: ['20.00', '21.60'], tax: ['0.00', '0.00'] }] }),
      refundBody(order.id, { currencies: ['EUR', 'USD'], transactions: [{ status: 'success', amount: '5.00', currency: 'EUR' }], lineItems: [{ subtotal: ['5.00', '5.40'], tax: ['0.00', '0.00'] }] }),
    ];
    for (const r of refunds) expect(await deliver(shop, 'refunds/create', r)).toBe('processed');
    const stats = await flowStats(shop, flowId);
    const line = [{ currency: 'EUR', orders: 1, amount: '25.00' }];
    expect(stats).toMatchObject({ attributedOrders: 1, attributedRevenue: line });
    expect(stats.steps[0]).toMatchObject({ attributedOrders: 1, attributedRevenue: line });
  });

  it('counts nothing it cannot figure exactly: a refund in another currency without money bags, or whose bags disagree on their currencies', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: '+447911123663' });
    const campaignId = await deliveredCampaign(shop, contact.id);
    const order = orderBody(contact.phone, '40.00', { presentment: { currency: 'EUR', total: '36.80' } });
    expect(await deliver(shop, 'orders/create', order)).toBe('processed');
    expect(await deliver(shop, 'refunds/create', refundBody(order.id, { transactions: [{ status: 'success', amount: '9.00', currency: 'EUR' }] }))).toBe('processed');
    const mixed = refundBody(order.id, { transactions: [{ status: 'success', amount: '9.00', currency: 'EUR' }], lineItems: [{ subtotal: ['10.00', '9.20'], tax: ['0.00', '0.00'] }] });
    (mixed.refund_line_items as { total_tax_set: unknown }[])[0]!.total_tax_set = { shop_money: { amount: '0.00', currency_code: 'USD' }, presentment_money: { amount: '0.00', currency_code: 'GBP' } };
    expect(await deliver(shop, 'refunds/create', mixed)).toBe('processed');
    expect(await campaignStats(shop, campaignId)).toMatchObject({ attributedOrders: 1, attributedRevenue: [{ currency: 'USD', orders: 1, amount: '40.00' }] });
  });
});
