import type { Express } from 'express';
import { createShop, testPhone } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { tableFingerprints } from '../table-fingerprints';
import { postShopify, rid } from '../webhooks';

// The attack: every Shopify topic took any JSON body, and app/uninstalled
// acted on the header's shop. A signed customers/* body of shop A (never
// delivered to us before, so no dedup could help), sent with
// `X-Shopify-Topic: app/uninstalled`, uninstalled shop A and cancelled its
// campaigns. Now each topic's body is validated against that topic's schema
// before anything is stored.

describe('a signed customer body sent as app/uninstalled', () => {
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

  it('is refused with 400, stores nothing, and the shop stays installed', async () => {
    const shop = await createShop(env.db);
    const before = await tableFingerprints(env.db);
    const bodies = [
      { id: Date.now(), phone: testPhone(), email: 'c@example.test', updated_at: new Date().toISOString() },
      { shop_id: 1, shop_domain: shop.domain, customer: { id: 5, email: 'c@example.test' }, orders_to_redact: [] },
      { shop_id: 1, shop_domain: shop.domain },
    ];
    for (const body of bodies) {
      const res = await postShopify(app, 'app/uninstalled', body, { shopDomain: shop.domain, webhookId: rid('wh') });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    }
    // And the other way round: a shop body is not a customer.
    const asCustomer = await postShopify(app, 'customers/update', { id: 9, domain: shop.domain, myshopify_domain: shop.domain }, { shopDomain: shop.domain });
    expect(asCustomer.status).toBe(400);

    await new Promise((r) => setTimeout(r, 300));
    expect(await tableFingerprints(env.db)).toEqual(before);
    const [row] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM shops WHERE id = ${shop.id}::uuid`;
    expect(row?.status).toBe('active');
  });
});
