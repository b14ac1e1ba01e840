import type { Express } from 'express';
import request from 'supertest';
import { createContact, createShop } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { deliveredCampaign, orderBody, refundBody, transactionBody } from '../shopify-refunds';
import { tableFingerprints } from '../table-fingerprints';
import { deliverShopify, postShopify } from '../webhooks';

// The attack: Shopify signs the body, not the X-Shopify-Topic header. A
// successful refund transaction under order_transactions/create takes what
// it gave back off its order's revenue (and a refund pending until then
// counts), so any other body Shopify signed for the app (a refund, with its
// successful transaction nested; an order, with its refunds and
// transactions; a checkout; a customer) sent with that topic would, if it
// read as a transaction, take an order's total off what a campaign earned.
// order_transactions/create accepts only a transaction: its id, order id,
// kind and amount at the top, and none of a refund's, an order's, a
// checkout's or a customer's keys. Anything else is 400 and nothing is
// stored or changed. The other way round, a transaction body is no body of
// any other topic.

describe('another signed body sent as order_transactions/create', () => {
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

  it('is refused, and the campaign keeps what the order earned while its refund is pending', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: '+447911123680' });
    const campaignId = await deliveredCampaign(env.db, shop, contact.id);
    const order = orderBody(contact.phone, '64.00');
    expect(await deliverShopify(app, env.db, 'orders/create', order, shop.domain)).toBe('processed');
    const pending = refundBody(order.id, { currencies: ['USD', 'USD'], transactions: [{ status: 'pending', amount: '64.00', currency: 'USD' }] });
    expect(await deliverShopify(app, env.db, 'refunds/create', pending, shop.domain)).toBe('processed');
    const stats = async () =>
      (await request(app).get(`/api/campaigns/${campaignId}/stats`).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`)).body as Record<string, unknown>;
    const earned = { attributedOrders: 1, attributedRevenue: [{ currency: 'USD', orders: 1, amount: '64.00' }] };
    expect(await stats()).toMatchObject(earned);

    const before = await tableFingerprints(env.db);
    // The pending transaction as it would read once successful, and the bodies that could carry it.
    const success = { ...pending.transactions[0]!, status: 'success' };
    const asTransaction = { order_id: order.id, kind: 'refund', status: 'success', amount: '64.00', currency: 'USD' };
    const refunded = { ...pending, transactions: [success] };
    const checkout = { token: `tok${order.id}`, abandoned_checkout_url: 'https://shop.example/recover', updated_at: new Date().toISOString(), customer: order.customer };
    const customer = { id: order.customer.id, email: 'ann@example.com', first_name: 'Ann', last_name: 'Lee', phone: contact.phone };
    // Each a body of its own bytes, signed with the app's secret.
    const replayed = [
      refunded,
      { ...refunded, ...asTransaction, id: success.id },
      { ...order, ...asTransaction, refunds: [refunded], transactions: [success] },
      { ...order, cancelled_at: new Date().toISOString(), refunds: [refunded] },
      { ...checkout, ...asTransaction, id: success.id },
      { ...customer, ...asTransaction },
      { id: success.id, order_id: order.id, status: 'success' },
      { ...success, kind: undefined },
      { ...success, amount: '-64.00' },
    ];
    for (const body of replayed) {
      const res = await postShopify(app, 'order_transactions/create', body, { shopDomain: shop.domain });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    // And a transaction body under every other topic the app acts on.
    const topics = [
      'refunds/create', 'orders/create', 'orders/cancelled', 'customers/create', 'customers/update', 'customers_marketing_consent/update',
      'checkouts/create', 'checkouts/update', 'app/uninstalled', 'app/scopes_update', 'bulk_operations/finish',
      'customers/data_request', 'customers/redact', 'shop/redact',
    ];
    for (const topic of topics) {
      const res = await postShopify(app, topic, transactionBody(order.id, { status: 'success', amount: '64.00', currency: 'USD' }), { shopDomain: shop.domain });
      expect([topic, res.status]).toEqual([topic, 400]);
    }
    expect(await tableFingerprints(env.db)).toEqual(before);
    expect(await stats()).toMatchObject(earned);

    // The transaction itself, under its own topic: the pending refund counts now.
    expect(await deliverShopify(app, env.db, 'order_transactions/create', success, shop.domain)).toBe('processed');
    expect(await stats()).toMatchObject({ attributedOrders: 1, attributedRevenue: [{ currency: 'USD', orders: 1, amount: '0.00' }] });
  });
});
