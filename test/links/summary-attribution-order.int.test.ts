import type { Express } from 'express';
import request from 'supertest';
import { clickBufferOf } from '../../apps/api/src/links/short-links';
import { linkCode, trackedLinksOf, type TrackedLinks } from '../../domain/links/link-code';
import { applyShopifyCustomerSummary } from '../../domain/orders/apply-customer-summary';
import { attributeOrder } from '../../domain/orders/attribute-order';
import { attributeSummaryOrder } from '../../domain/orders/attribute-summary-order';
import { recordShopifyOrder } from '../../domain/orders/record-order';
import { applyCustomerChunk } from '../../domain/shop-sync/apply-customer-chunk';
import type { SyncCustomer } from '../../domain/shop-sync/bulk-customer';
import { createContact, createShop, phoneHash, testPhone, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { postShopify, rid, webhookEvent } from '../webhooks';

// An order is known from two webhooks Shopify does not order: its own
// orders/create and the customers/update that raises the customer's
// orders_count. Whichever comes first, and however often either is
// delivered, the order counts once: a provisional (summary) attribution only
// for an order the summary alone tells of, replaced by the real order when
// its orders/create arrives.

const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';

describe('summary attribution, whichever of orders/create and customers/update arrives first', () => {
  let env: TestEnv;
  let app: Express;
  let links: TrackedLinks;
  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    await env.worker({ queues: ['webhooks'] });
    links = trackedLinksOf(env.config);
  });
  afterAll(async () => env.close());

  let seq = 0;
  /**
   * A returning customer (Shopify's figures: 1 order, 20.00 USD, counted
   * before) who clicked a campaign's link just now.
   */
  async function returningCustomerWhoClicked() {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: testPhone(), consent: 'subscribed' });
    const customerId = String(Date.now() * 100 + (seq++ % 100));
    await env.db.$executeRaw`
      UPDATE contacts SET shopify_customer_id = ${customerId}, shopify_orders_count = 1, shopify_amount_spent_minor = 2000, amount_spent_currency = 'USD'
       WHERE id = ${contact.id}::uuid`;
    const [c] = await env.db.$queryRaw<{ id: string; link_no: bigint }[]>`
      INSERT INTO campaigns (shop_id, name, body, status) VALUES (${shop.id}::uuid, 'Summary', 'Sale https://summary.example/x', 'completed') RETURNING id, link_no`;
    const [r] = await env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${c!.id}::uuid, ${contact.id}::uuid, 0) RETURNING id`;
    expect((await request(app).get(`/${linkCode(links.signingKey, Number(c!.link_no), Number(r!.id), 0)}`).set('User-Agent', IPHONE).redirects(0)).status).toBe(302);
    await clickBufferOf(app).flush();
    const t0 = Date.now();
    const deliver = async (topic: string, body: Record<string, unknown>) => {
      const webhookId = rid('wh');
      expect((await postShopify(app, topic, body, { shopDomain: shop.domain, webhookId })).status).toBe(200);
      await waitFor(`${topic} processed`, async () => ((await webhookEvent(env.db, 'shopify', webhookId))?.status ?? 'gone') !== 'received');
    };
    return {
      shop,
      contact,
      customerId,
      campaignId: c!.id,
      /** orders/create of order `n` (its id), placed `atMs` after the click. */
      order: (n: number, total: string, atMs = 500) =>
        deliver('orders/create', {
          id: t0 * 1000 + n, created_at: new Date(t0 + atMs).toISOString(), total_price: total, currency: 'USD',
          customer: { id: Number(customerId), phone: contact.phone }, phone: contact.phone,
          landing_site: null, referring_site: null, source_name: 'web', discount_codes: [], line_items: [],
        }),
      orderId: (n: number) => String(t0 * 1000 + n),
      /** customers/update with Shopify's figures, stamped `atMs` after the click. */
      customer: (ordersCount: number, totalSpent: string, atMs = 1_000) =>
        deliver('customers/update', {
          id: Number(customerId), email: null, first_name: 'Sam', last_name: null, phone: contact.phone, updated_at: new Date(t0 + atMs).toISOString(),
          orders_count: ordersCount, total_spent: totalSpent, currency: 'USD', sms_marketing_consent: { state: 'subscribed', phone: contact.phone },
        }),
    };
  }

  const attributions = (shop: ShopFixture) =>
    env.db.$queryRaw<{ order_id: string; source: string; total_minor: bigint }[]>`
      SELECT order_id, source, total_minor FROM order_attributions WHERE shop_id = ${shop.id}::uuid ORDER BY source, order_id`;
  const stats = async (shop: ShopFixture, campaignId: string) =>
    (await request(app).get(`/api/campaigns/${campaignId}/stats`).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`)).body as unknown;

  it('counts the order once: the customers/update that follows its orders/create adds no provisional order', async () => {
    const s = await returningCustomerWhoClicked();
    await s.order(7, '35.00');
    await s.customer(2, '55.00');
    expect((await attributions(s.shop)).map(({ order_id, source }) => ({ order_id, source }))).toEqual([{ order_id: s.orderId(7), source: 'order' }]);
    expect(await stats(s.shop, s.campaignId)).toMatchObject({ attributedOrders: 1, attributedRevenue: [expect.objectContaining({ currency: 'USD', orders: 1, amount: '35.00' })] });
  });

  it('orders/create first: the same update delivered again, and a stale one, add nothing either', async () => {
    const s = await returningCustomerWhoClicked();
    await s.order(7, '35.00');
    await s.customer(2, '55.00');
    expect(await attributions(s.shop)).toEqual([{ order_id: s.orderId(7), source: 'order', total_minor: 3500n }]);
    // The same figures again, and a stale update from before the order: nothing more.
    await s.customer(2, '55.00', 2_000);
    await s.customer(1, '20.00', 300);
    expect(await attributions(s.shop)).toEqual([{ order_id: s.orderId(7), source: 'order', total_minor: 3500n }]);
    expect(await stats(s.shop, s.campaignId)).toMatchObject({ attributedOrders: 1, attributedRevenue: [expect.objectContaining({ currency: 'USD', orders: 1, amount: '35.00' })] });
  });

  it('customers/update first: the provisional order is replaced by its orders/create, and a redelivered update adds nothing', async () => {
    const s = await returningCustomerWhoClicked();
    await s.customer(2, '55.00');
    expect(await attributions(s.shop)).toEqual([{ order_id: `summary:${s.customerId}:2`, source: 'summary', total_minor: 3500n }]);
    await s.customer(2, '55.00', 2_000);
    expect(await attributions(s.shop)).toHaveLength(1);
    await s.order(7, '35.00');
    expect(await attributions(s.shop)).toEqual([{ order_id: s.orderId(7), source: 'order', total_minor: 3500n }]);
    // Shopify resends the update after the order: the order is not counted again.
    await s.customer(2, '55.00', 3_000);
    expect(await attributions(s.shop)).toEqual([{ order_id: s.orderId(7), source: 'order', total_minor: 3500n }]);
    expect(await stats(s.shop, s.campaignId)).toMatchObject({ attributedOrders: 1, attributedRevenue: [expect.objectContaining({ orders: 1, amount: '35.00' })] });
  });

  it('still attributes a genuinely new order seen only in the summary, after one seen through orders/create (either way round)', async () => {
    // orders/create, its update, then an update telling of one more order: that one is provisional, with its own amount.
    const a = await returningCustomerWhoClicked();
    await a.order(7, '35.00');
    await a.customer(2, '55.00');
    await a.customer(3, '80.00', 2_000);
    expect(await attributions(a.shop)).toEqual([
      { order_id: a.orderId(7), source: 'order', total_minor: 3500n },
      { order_id: `summary:${a.customerId}:3`, source: 'summary', total_minor: 2500n },
    ]);
    expect(await stats(a.shop, a.campaignId)).toMatchObject({ attributedOrders: 2, attributedRevenue: [expect.objectContaining({ orders: 2, amount: '60.00' })] });
    // Its orders/create replaces it.
    await a.order(8, '25.00', 1_500);
    expect(await attributions(a.shop)).toEqual([
      { order_id: a.orderId(7), source: 'order', total_minor: 3500n },
      { order_id: a.orderId(8), source: 'order', total_minor: 2500n },
    ]);

    // The update first, its orders/create, then an update telling of a new order: provisional again.
    const b = await returningCustomerWhoClicked();
    await b.customer(2, '55.00');
    await b.order(7, '35.00');
    await b.customer(3, '80.00', 2_000);
    expect(await attributions(b.shop)).toEqual([
      { order_id: b.orderId(7), source: 'order', total_minor: 3500n },
      { order_id: `summary:${b.customerId}:3`, source: 'summary', total_minor: 2500n },
    ]);
    expect(await stats(b.shop, b.campaignId)).toMatchObject({ attributedOrders: 2, attributedRevenue: [expect.objectContaining({ orders: 2, amount: '60.00' })] });
  });

  it('two orders in quick succession, both orders/create first and Shopify counting them one update at a time: no provisional order', async () => {
    const s = await returningCustomerWhoClicked();
    await s.order(7, '35.00');
    await s.order(8, '15.00', 700);
    await s.customer(2, '55.00');
    await s.customer(3, '70.00', 2_000);
    expect(await attributions(s.shop)).toEqual([
      { order_id: s.orderId(7), source: 'order', total_minor: 3500n },
      { order_id: s.orderId(8), source: 'order', total_minor: 1500n },
    ]);
    expect(await stats(s.shop, s.campaignId)).toMatchObject({ attributedOrders: 2, attributedRevenue: [expect.objectContaining({ orders: 2, amount: '50.00' })] });
  });

  it('two orders in quick succession, one update telling of both before either orders/create: never more than the two orders', async () => {
    const s = await returningCustomerWhoClicked();
    await s.customer(3, '70.00');
    // One provisional row stands for both (the whole rise).
    expect(await attributions(s.shop)).toEqual([{ order_id: `summary:${s.customerId}:3`, source: 'summary', total_minor: 5000n }]);
    await s.order(7, '35.00');
    // The first orders/create takes the provisional row with it: fewer for a while, never more.
    expect(await attributions(s.shop)).toEqual([{ order_id: s.orderId(7), source: 'order', total_minor: 3500n }]);
    await s.order(8, '15.00', 700);
    await s.customer(3, '70.00', 2_000);
    expect(await attributions(s.shop)).toEqual([
      { order_id: s.orderId(7), source: 'order', total_minor: 3500n },
      { order_id: s.orderId(8), source: 'order', total_minor: 1500n },
    ]);
    // A later order the summary alone tells of is still provisional.
    await s.customer(4, '80.00', 3_000);
    expect(await attributions(s.shop)).toContainEqual({ order_id: `summary:${s.customerId}:4`, source: 'summary', total_minor: 1000n });
  });

  it('the bulk sync raising the count settles the orders it now counts, as history: no provisional order, and a later one is still seen', async () => {
    const s = await returningCustomerWhoClicked();
    await s.order(7, '35.00');
    const line: SyncCustomer = {
      customerId: s.customerId, phoneE164: s.contact.phone, phoneHash: phoneHash(s.contact.phone), phoneProblem: null,
      email: null, firstName: 'Sam', lastName: null, consent: 'subscribed', shopifyState: 'SUBSCRIBED', optInLevel: null, consentCollectedFrom: null,
      consentUpdatedAt: null, updatedAt: new Date(), tags: [], ordersCount: 2, spentMinor: '5500', currency: 'USD', lastOrderAt: null,
    };
    await env.db.$transaction((tx) => applyCustomerChunk(tx, { shopId: s.shop.id, syncId: '00000000-0000-4000-8000-000000000002', customers: [line], fallbackUpdatedAt: new Date() }));
    const [figures] = await env.db.$queryRaw<{ orders_uncounted: number; amount_uncounted_minor: bigint; orders_unseen: number }[]>`
      SELECT orders_uncounted, amount_uncounted_minor, orders_unseen FROM contacts WHERE id = ${s.contact.id}::uuid`;
    expect(figures).toEqual({ orders_uncounted: 0, amount_uncounted_minor: 0n, orders_unseen: 0 });
    await s.customer(2, '55.00');
    expect(await attributions(s.shop)).toEqual([{ order_id: s.orderId(7), source: 'order', total_minor: 3500n }]);
    await s.customer(3, '80.00', 2_000);
    expect(await attributions(s.shop)).toContainEqual({ order_id: `summary:${s.customerId}:3`, source: 'summary', total_minor: 2500n });
  });

  it('an erased contact brought back by its number inherits none of its order bookkeeping: its next order is not counted again from the summary', async () => {
    const s = await returningCustomerWhoClicked();
    // Shopify tells of an order whose orders/create has not come (provisional), then the merchant erases the contact.
    await s.customer(2, '55.00');
    const auth = `Bearer ${await sessionToken(s.shop.domain)}`;
    expect((await request(app).delete(`/api/contacts/${s.contact.id}`).set('Authorization', auth).set('Idempotency-Key', rid('k'))).status).toBe(204);
    // The number comes back (the same row), and Shopify links its customer again: a first count, history.
    const back = await request(app).post('/api/contacts').set('Authorization', auth).send({ phone: s.contact.phone, smsConsent: 'subscribed' });
    expect(back.status).toBe(201);
    expect(back.body.id).toBe(s.contact.id);
    await s.customer(2, '55.00', 2_000);
    // A new campaign's click, then a new order, then Shopify counting that order.
    const [c] = await env.db.$queryRaw<{ id: string; link_no: bigint }[]>`
      INSERT INTO campaigns (shop_id, name, body, status) VALUES (${s.shop.id}::uuid, 'Again', 'Sale https://summary.example/y', 'completed') RETURNING id, link_no`;
    const [r] = await env.db.$queryRaw<{ id: bigint }[]>`
      INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no) VALUES (${c!.id}::uuid, ${s.contact.id}::uuid, 0) RETURNING id`;
    expect((await request(app).get(`/${linkCode(links.signingKey, Number(c!.link_no), Number(r!.id), 0)}`).set('User-Agent', IPHONE).redirects(0)).status).toBe(302);
    await clickBufferOf(app).flush();
    await s.order(9, '30.00', 60_000);
    await s.customer(3, '85.00', 120_000);
    const again = (await attributions(s.shop)).filter((a) => a.order_id !== `summary:${s.customerId}:2`);
    expect(again).toEqual([{ order_id: s.orderId(9), source: 'order', total_minor: 3000n }]);
    expect(await stats(s.shop, c!.id)).toMatchObject({ attributedOrders: 1, attributedRevenue: [expect.objectContaining({ orders: 1, amount: '30.00' })] });
  });

  it('an order and its customer update processed at the same moment count the order once', async () => {
    const runs = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const s = await returningCustomerWhoClicked();
        const at = new Date(Date.now() + 500);
        // What the two webhook handlers do, each in its own transaction, released together.
        const order = () =>
          env.db.$transaction(async (tx) => {
            const r = await recordShopifyOrder(tx, {
              shopId: s.shop.id, orderId: s.orderId(7), customerId: s.customerId, phones: [s.contact.phone], totalPrice: '35.00', currency: 'USD',
              orderedAt: at, landingSite: null, referringSite: null, sourceName: 'web', discountCodes: [],
            });
            if (r.outcome === 'recorded' && r.contactId) await attributeOrder(tx, { shopId: s.shop.id, orderId: s.orderId(7), contactId: r.contactId });
          });
        const summary = () =>
          env.db.$transaction(async (tx) => {
            const figures = { shopId: s.shop.id, customerId: s.customerId, ordersCount: 2, totalSpent: '55.00', currency: 'USD' };
            await attributeSummaryOrder(tx, { ...figures, at: new Date(at.getTime() + 500) });
            await applyShopifyCustomerSummary(tx, figures);
          });
        await Promise.all(i % 2 === 0 ? [order(), summary()] : [summary(), order()]);
        return { s, rows: await attributions(s.shop) };
      }),
    );
    for (const { s, rows } of runs) expect(rows).toEqual([{ order_id: s.orderId(7), source: 'order', total_minor: 3500n }]);
  });
});
