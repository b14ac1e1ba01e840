import type { Express } from 'express';
import { createContact, createShop } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { deliveredCampaign } from '../shopify-refunds';
import { tableFingerprints } from '../table-fingerprints';
import { deliverShopify, postShopify } from '../webhooks';

// The attack: Shopify signs the body, not the X-Shopify-Topic header. A
// signed orders/create body (an order Shopify never cancelled: its
// `cancelled_at` is null) sent with the topic orders/cancelled would withdraw
// what that order earned a campaign. orders/cancelled accepts only a body
// that says when the order was cancelled; anything else is 400 and nothing is
// stored or changed.

describe('an orders/create body sent as orders/cancelled', () => {
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

  it('is refused, and the order keeps its attribution', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { phone: '+447911123630' });
    const campaignId = await deliveredCampaign(env.db, shop, contact.id);
    const order = {
      id: Date.now(),
      created_at: new Date().toISOString(),
      cancelled_at: null,
      total_price: '64.00',
      currency: 'USD',
      customer: { id: Date.now() + 1, phone: contact.phone },
      phone: contact.phone,
      landing_site: '/',
      referring_site: null,
      source_name: 'web',
      discount_codes: [],
    };
    expect(await deliverShopify(app, env.db, 'orders/create', order, shop.domain)).toBe('processed');
    const attributed = await env.db.$queryRaw<{ campaign_id: string }[]>`SELECT campaign_id FROM order_attributions WHERE shop_id = ${shop.id}::uuid`;
    expect(attributed).toEqual([{ campaign_id: campaignId }]);

    const before = await tableFingerprints(env.db);
    // The same order as a signed body of its own bytes (not a stored duplicate), with no cancellation time, or none at all.
    const { cancelled_at: _none, ...withoutKey } = order;
    for (const body of [{ ...order, note: 'replayed' }, withoutKey]) {
      const res = await postShopify(app, 'orders/cancelled', body, { shopDomain: shop.domain });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    expect(await tableFingerprints(env.db)).toEqual(before);
    expect(await env.db.$queryRaw`SELECT campaign_id FROM order_attributions WHERE shop_id = ${shop.id}::uuid`).toEqual(attributed);
  });
});
