import type { Express } from 'express';
import request from 'supertest';
import type { ApiDeps } from '../../apps/api/src/deps';
import type { WorkerDeps } from '../../apps/worker/src/deps';
import { checkShopifyBody } from '../../domain/webhooks/shopify-payloads';
import { createContact, createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { deliveredCampaign, deliveredFlow, nextShopifyId, orderBody, refundBody, transactionBody } from '../shopify-refunds';
import { counterValue, deliverShopify, postShopify, rid, webhookEvent } from '../webhooks';

// A refund whose transaction is pending when refunds/create comes (a bank
// transfer, a slow gateway) and succeeds later: Shopify sends no second
// refunds/create, only order_transactions/create for the transaction's later
// state. It counts from then on, once, whichever of the two arrives first,
// however often each is delivered, whether the later state comes under the
// transaction's own id or as a new transaction whose parent is the pending
// one. A failed one never counts; other kinds of transaction (one for every
// sale, authorization, capture… of the shop) are answered and never stored.

describe('a refund transaction that succeeds after its refund', () => {
  let env: TestEnv;
  let app: Express;
  let api: ApiDeps;
  let worker: WorkerDeps;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app, deps: api } = await env.api());
    ({ deps: worker } = await env.worker({ queues: ['webhooks'] }));
  });
  afterAll(async () => {
    await env.close();
  });

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;
  const revenueOf = async (shop: ShopFixture, campaignId: string) =>
    ((await request(app).get(`/api/campaigns/${campaignId}/stats`).set('Authorization', await auth(shop))).body as { attributedRevenue: unknown }).attributedRevenue;
  const withdrawn = (currency = 'USD') => counterValue(worker.metrics, 'attributedRevenueWithdrawn', { currency, reason: 'refund' });
  const deliver = (shop: ShopFixture, topic: string, body: Record<string, unknown>) => deliverShopify(app, env.db, topic, body, shop.domain);
  const usd = (amount: string) => [{ currency: 'USD', orders: 1, amount }];

  /** A shop, a contact the campaign reached, and its attributed order. */
  async function attributedOrder(phone: string, total: string, presentment?: { currency: string; total: string }) {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone });
    const campaignId = await deliveredCampaign(env.db, shop, contact.id);
    const order = orderBody(contact.phone, total, { presentment });
    expect(await deliver(shop, 'orders/create', order)).toBe('processed');
    return { shop, campaignId, order };
  }

  it('counts once it succeeds, once however often either is delivered; a failed one never counts', async () => {
    const { shop, campaignId, order } = await attributedOrder('+447911123670', '80.00');
    const before = await withdrawn();
    const refund = refundBody(order.id, {
      transactions: [
        { status: 'pending', amount: '30.00', currency: 'USD' },
        { status: 'pending', amount: '10.00', currency: 'USD' },
      ],
    });
    const [slow, failing] = refund.transactions;
    expect(await deliver(shop, 'refunds/create', refund)).toBe('processed');
    expect(await revenueOf(shop, campaignId)).toMatchObject(usd('80.00'));

    // The first succeeds: 30.00 off, once, whatever is delivered again.
    const succeeded = { ...slow!, status: 'success', message: 'Refunded' };
    expect(await deliver(shop, 'order_transactions/create', succeeded)).toBe('processed');
    expect(await revenueOf(shop, campaignId)).toMatchObject(usd('50.00'));
    expect((await postShopify(app, 'order_transactions/create', succeeded, { shopDomain: shop.domain })).body).toEqual({ duplicate: true });
    expect(await deliver(shop, 'order_transactions/create', { ...succeeded, processed_at: new Date().toISOString() })).toBe('processed');
    // Its pending state redelivered late, and the refund again: the success stands.
    expect(await deliver(shop, 'order_transactions/create', { ...slow!, message: 'again' })).toBe('processed');
    expect(await deliver(shop, 'refunds/create', { ...refund, note: 'resent' })).toBe('processed');
    expect(await revenueOf(shop, campaignId)).toMatchObject(usd('50.00'));

    // The second fails: nothing more.
    expect(await deliver(shop, 'order_transactions/create', { ...failing!, status: 'failure', error_code: 'card_declined' })).toBe('processed');
    expect(await revenueOf(shop, campaignId)).toMatchObject(usd('50.00'));
    expect((await withdrawn()) - before).toBeCloseTo(30, 6);

    // The stored transaction keeps no payment details and is still an order_transactions/create body.
    const [stored] = await env.db.$queryRaw<{ payload: unknown }[]>`
      SELECT payload FROM webhook_events WHERE provider = 'shopify' AND shop_id = ${shop.id}::uuid AND topic = 'order_transactions/create' ORDER BY received_at LIMIT 1`;
    expect(checkShopifyBody('order_transactions/create', stored!.payload)).toMatchObject({ known: true, valid: true });
    expect(JSON.stringify(stored!.payload)).not.toMatch(/4242|Visa|shopify_payments|re_fake/);
  });

  it('counts a success reported before refunds/create once, and the refund arriving pending after it takes nothing back', async () => {
    const { shop, campaignId, order } = await attributedOrder('+447911123671', '70.00');
    const before = await withdrawn();
    const refund = refundBody(order.id, { transactions: [{ status: 'pending', amount: '20.00', currency: 'USD' }] });
    const transaction = refund.transactions[0]!;

    expect(await deliver(shop, 'order_transactions/create', { ...transaction, status: 'success' })).toBe('processed');
    expect(await revenueOf(shop, campaignId)).toMatchObject(usd('50.00'));
    expect(await deliver(shop, 'refunds/create', refund)).toBe('processed');
    expect(await deliver(shop, 'order_transactions/create', { ...transaction, status: 'success', message: 'again' })).toBe('processed');
    expect(await revenueOf(shop, campaignId)).toMatchObject(usd('50.00'));
    expect((await withdrawn()) - before).toBeCloseTo(20, 6);
  });

  it('counts a later state reported as a new transaction whose parent is the pending one as the same money, in either order', async () => {
    const { shop, campaignId, order } = await attributedOrder('+447911123672', '100.00');
    const first = refundBody(order.id, { transactions: [{ status: 'pending', amount: '25.00', currency: 'USD' }] });
    const pending = first.transactions[0]!;
    const child = transactionBody(order.id, { parentId: pending.id, status: 'success', amount: '25.00', currency: 'USD' });
    expect(await deliver(shop, 'refunds/create', first)).toBe('processed');
    expect(await deliver(shop, 'order_transactions/create', child)).toBe('processed');
    expect(await revenueOf(shop, campaignId)).toMatchObject(usd('75.00'));
    // The pending transaction itself reported successful too: still the same 25.00.
    expect(await deliver(shop, 'order_transactions/create', { ...pending, status: 'success' })).toBe('processed');
    expect(await revenueOf(shop, campaignId)).toMatchObject(usd('75.00'));

    // Another refund of the order, its child's success first.
    const second = refundBody(order.id, { transactions: [{ status: 'pending', amount: '15.00', currency: 'USD' }] });
    const secondPending = second.transactions[0]!;
    expect(await deliver(shop, 'order_transactions/create', transactionBody(order.id, { parentId: secondPending.id, status: 'success', amount: '15.00', currency: 'USD' }))).toBe('processed');
    expect(await deliver(shop, 'refunds/create', second)).toBe('processed');
    expect(await revenueOf(shop, campaignId)).toMatchObject(usd('60.00'));
    const [rows] = await env.db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM shopify_refund_transactions WHERE shop_id = ${shop.id}::uuid AND order_id = ${String(order.id)}`;
    expect(rows!.n).toBe(2);
  });

  it("counts a pending one paid in the customer's currency by its part of the refund in the shop's, in either order", async () => {
    // 90.00 USD, paid 81.00 EUR, refunded in full: 54.00 EUR at once and 27.00 EUR pending.
    const { shop, campaignId, order } = await attributedOrder('+447911123673', '90.00', { currency: 'EUR', total: '81.00' });
    const before = await withdrawn();
    const refund = refundBody(order.id, {
      transactions: [
        { id: nextShopifyId(), status: 'success', amount: '54.00', currency: 'EUR' },
        { id: nextShopifyId(), status: 'pending', amount: '27.00', currency: 'EUR' },
      ],
      lineItems: [{ subtotal: ['90.00', '81.00'], tax: ['0.00', '0.00'] }],
    });
    const pending = refund.transactions[1]!;
    expect(await deliver(shop, 'refunds/create', refund)).toBe('processed');
    expect(await revenueOf(shop, campaignId)).toMatchObject(usd('30.00'));
    expect(await deliver(shop, 'order_transactions/create', { ...pending, status: 'success' })).toBe('processed');
    expect(await revenueOf(shop, campaignId)).toMatchObject(usd('0.00'));
    expect((await withdrawn()) - before).toBeCloseTo(90, 6);

    // Its transaction's success first: no figure in dollars yet (no rate is guessed), then the refund brings it.
    const other = await attributedOrder('+447911123674', '108.00', { currency: 'EUR', total: '100.00' });
    const late = refundBody(other.order.id, {
      transactions: [{ status: 'pending', amount: '50.00', currency: 'EUR' }],
      lineItems: [{ subtotal: ['50.00', '46.30'], tax: ['4.00', '3.70'] }],
    });
    expect(await deliver(other.shop, 'order_transactions/create', { ...late.transactions[0]!, status: 'success' })).toBe('processed');
    expect(await revenueOf(other.shop, other.campaignId)).toMatchObject(usd('108.00'));
    expect(await deliver(other.shop, 'refunds/create', late)).toBe('processed');
    expect(await revenueOf(other.shop, other.campaignId)).toMatchObject(usd('54.00'));
  });

  it("nets a flow's revenue the same way once the transaction succeeds, for the flow and its step", async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: '+447911123676' });
    const flowId = await deliveredFlow(app, env.db, shop, contact.id);
    const order = orderBody(contact.phone, '64.00', { currency: 'GBP' });
    expect(await deliver(shop, 'orders/create', order)).toBe('processed');
    const refund = refundBody(order.id, { currencies: ['GBP', 'GBP'], transactions: [{ status: 'pending', amount: '16.50', currency: 'GBP' }] });
    expect(await deliver(shop, 'refunds/create', refund)).toBe('processed');
    const flowStats = async () => (await request(app).get(`/api/flows/${flowId}/stats`).set('Authorization', await auth(shop))).body as { attributedRevenue: unknown; steps: { attributedRevenue: unknown }[] };
    expect((await flowStats()).attributedRevenue).toMatchObject([{ currency: 'GBP', orders: 1, amount: '64.00' }]);
    expect(await deliver(shop, 'order_transactions/create', { ...refund.transactions[0]!, status: 'success' })).toBe('processed');
    const stats = await flowStats();
    const line = [{ currency: 'GBP', orders: 1, amount: '47.50' }];
    expect(stats.attributedRevenue).toMatchObject(line);
    expect(stats.steps[0]!.attributedRevenue).toMatchObject(line);
  });

  it('stores no transaction that is no refund (answered, counted not_stored, no inbox row), and a refund of the same order still counts', async () => {
    const { shop, campaignId, order } = await attributedOrder('+447911123675', '45.00');
    const notStored = () => counterValue(api.metrics, 'webhookEvents', { source: 'shopify', outcome: 'not_stored' });
    const inbox = async () =>
      (await env.db.$queryRaw<{ n: number }[]>`
        SELECT count(*)::int AS n FROM webhook_events WHERE provider = 'shopify' AND shop_id = ${shop.id}::uuid AND topic = 'order_transactions/create'`)[0]!.n;
    const before = await notStored();
    // Every sale, authorization, capture… of the shop, and a refund transaction nothing could count (zero).
    const inert = [
      ...['sale', 'capture', 'authorization', 'void', 'SALE'].map((kind) => transactionBody(order.id, { kind, status: 'success', amount: '45.00', currency: 'USD' })),
      transactionBody(order.id, { status: 'success', amount: '0.00', currency: 'USD' }),
    ];
    for (const body of inert) {
      const webhookId = rid('wh');
      const res = await postShopify(app, 'order_transactions/create', body, { shopDomain: shop.domain, webhookId });
      expect([res.status, res.body]).toEqual([200, { ignored: true }]);
      expect(await webhookEvent(env.db, 'shopify', webhookId)).toBeUndefined();
    }
    expect((await notStored()) - before).toBe(inert.length);
    expect(await inbox()).toBe(0);

    // Still verified first: the same body unsigned, or signed with another secret, is 401 and not counted as not stored.
    const sale = inert[0]!;
    for (const o of [{ hmac: '' }, { secret: 'another-app-secret' }]) {
      const res = await postShopify(app, 'order_transactions/create', sale, { shopDomain: shop.domain, ...o });
      expect([res.status, res.body.error?.code]).toEqual([401, 'INVALID_SIGNATURE']);
    }
    expect((await notStored()) - before).toBe(inert.length);

    // A refund transaction of the order is stored and counts as before.
    expect(await revenueOf(shop, campaignId)).toMatchObject(usd('45.00'));
    expect(await deliver(shop, 'order_transactions/create', transactionBody(order.id, { status: 'success', amount: '15.00', currency: 'USD' }))).toBe('processed');
    expect(await revenueOf(shop, campaignId)).toMatchObject(usd('30.00'));
    expect(await inbox()).toBe(1);
    const [rows] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM shopify_refund_transactions WHERE shop_id = ${shop.id}::uuid`;
    expect(rows!.n).toBe(1);
  });
});
