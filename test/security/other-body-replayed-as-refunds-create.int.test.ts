import type { Express } from 'express';
import request from 'supertest';
import { createContact, createShop } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { deliveredCampaign } from '../shopify-refunds';
import { tableFingerprints } from '../table-fingerprints';
import { deliverShopify, postShopify } from '../webhooks';

// The attack: Shopify signs the body, not the X-Shopify-Topic header. Any
// body Shopify signed for the app (an order, with its refunds nested inside;
// a checkout; an order's transaction) sent with the topic refunds/create
// would, if it read as a refund, take an order's total off what a campaign
// earned. refunds/create accepts only a Refund: its order id, an id of its
// own and its transactions and refund line items at the top, and none of an
// order's or a checkout's keys. Anything else is 400 and nothing is stored or
// changed. The other way round, a refund body is no customer or order body.

describe('another signed body sent as refunds/create', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    await env.worker({ queues: ['webhooks'] });
  });
  afterAll(async () => {
    await env.close();
  });

  it('is refused, and the campaign keeps what the order earned', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: '+447911123650' });
    const campaignId = await deliveredCampaign(env.db, shop, contact.id);
    const orderId = Date.now();
    const transaction = { id: orderId + 7, order_id: orderId, kind: 'refund', status: 'success', amount: '64.00', currency: 'USD', gateway: 'bogus' };
    const nestedRefund = { id: orderId + 5, order_id: orderId, created_at: new Date().toISOString(), transactions: [transaction], refund_line_items: [] };
    const order = {
      id: orderId,
      created_at: new Date().toISOString(),
      cancelled_at: null,
      total_price: '64.00',
      currency: 'USD',
      customer: { id: orderId + 1, phone: contact.phone },
      phone: contact.phone,
      landing_site: '/',
      referring_site: null,
      source_name: 'web',
      discount_codes: [],
    };
    expect(await deliverShopify(app, env.db, 'orders/create', order, shop.domain)).toBe('processed');
    const stats = async () =>
      (await request(app).get(`/api/campaigns/${campaignId}/stats`).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`)).body as Record<string, unknown>;
    const earned = { attributedOrders: 1, attributedRevenue: [{ currency: 'USD', orders: 1, amount: '64.00' }] };
    expect(await stats()).toMatchObject(earned);

    const before = await tableFingerprints(env.db);
    const checkout = {
      token: `tok${orderId}`,
      abandoned_checkout_url: 'https://shop.example/recover',
      updated_at: new Date().toISOString(),
      customer: { id: orderId + 1, phone: contact.phone },
    };
    // Each a body of its own bytes, signed with the app's secret: an order with its refunds nested (as orders/updated and
    // orders/cancelled carry them) and an order_id of its own added, a checkout, an order transaction, a refund without its arrays.
    const replayed = [
      { ...order, order_id: orderId, refunds: [nestedRefund], transactions: [transaction], refund_line_items: [] },
      { ...order, cancelled_at: new Date().toISOString(), refunds: [nestedRefund] },
      { ...checkout, order_id: orderId, transactions: [transaction], refund_line_items: [] },
      transaction,
      { id: orderId + 5, order_id: orderId, created_at: new Date().toISOString(), transactions: [transaction] },
    ];
    for (const body of replayed) {
      const res = await postShopify(app, 'refunds/create', body, { shopDomain: shop.domain });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    // And a real refund body under another topic: not a customer, not an order.
    for (const topic of ['customers/update', 'customers/create', 'orders/create', 'orders/cancelled', 'checkouts/update']) {
      const res = await postShopify(app, topic, nestedRefund, { shopDomain: shop.domain });
      expect(res.status).toBe(400);
    }
    expect(await tableFingerprints(env.db)).toEqual(before);
    expect(await stats()).toMatchObject(earned);
  });
});
