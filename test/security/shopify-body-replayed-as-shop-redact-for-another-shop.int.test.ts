import type { Express } from 'express';
import request from 'supertest';
import { createContact, createShop, testPhone } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { waitFor } from '../sending';
import { tableFingerprints } from '../table-fingerprints';
import { postShopify, rid, webhookEvent } from '../webhooks';

// The attack: Shopify's HMAC covers the body only; topic, shop domain and
// webhook id are unsigned headers. Someone holding ONE signed body of shop A
// (a customers/create, an app/uninstalled) resent its exact bytes with
// `X-Shopify-Topic: shop/redact`, shop B's domain and a fresh webhook id:
// shop B and all its contacts were deleted. Now the topic's body must match
// its own schema, a body that names a shop must name the header's shop, and
// nothing of a refused delivery is stored.

describe('a signed Shopify body of shop A replayed as shop/redact for shop B', () => {
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

  async function settled(webhookId: string): Promise<void> {
    await waitFor(`shopify ${webhookId} settled`, async () => (await webhookEvent(env.db, 'shopify', webhookId))?.status !== 'received');
  }

  async function shopBIntact(b: { id: string; domain: string }, contactIds: string[]): Promise<void> {
    const [shop] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM shops WHERE id = ${b.id}::uuid`;
    expect(shop?.status).toBe('active');
    const contacts = await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM contacts WHERE shop_id = ${b.id}::uuid AND erased_at IS NULL ORDER BY id`;
    expect(contacts.map((c) => c.id)).toEqual([...contactIds].sort());
    const list = await request(app).get('/api/contacts').set('Authorization', `Bearer ${await sessionToken(b.domain)}`);
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(contactIds.length);
  }

  it('refuses every cross-topic, cross-shop replay and stores nothing', async () => {
    const a = await createShop(env.db);
    const b = await createShop(env.db);
    const bContacts = [await createContact(env.db, b.id), await createContact(env.db, b.id)].map((c) => c.id);

    // Captured: the exact bytes of two deliveries Shopify really signed for shop A.
    const customerBody = JSON.stringify({ id: Date.now(), phone: testPhone(), email: 'a-customer@example.test', updated_at: new Date().toISOString() });
    const uninstallBody = JSON.stringify({ id: 4242, name: 'Shop A', domain: a.domain, myshopify_domain: a.domain });
    const legit = rid('wh');
    expect((await postShopify(app, 'customers/create', customerBody, { shopDomain: a.domain, webhookId: legit })).status).toBe(200);
    await settled(legit);

    const before = await tableFingerprints(env.db);
    const attacks = [
      // Stored before under another topic: the body does not name a shop at all.
      { topic: 'shop/redact', body: customerBody },
      { topic: 'customers/redact', body: customerBody },
      // Never delivered before: names shop A, sent for shop B.
      { topic: 'shop/redact', body: uninstallBody },
      { topic: 'app/uninstalled', body: uninstallBody },
      // A well-formed shop/redact body of A under B's domain.
      { topic: 'shop/redact', body: JSON.stringify({ shop_id: 4242, shop_domain: a.domain }) },
    ];
    for (const attack of attacks) {
      const res = await postShopify(app, attack.topic, attack.body, { shopDomain: b.domain, webhookId: rid('wh') });
      expect([400, 401]).toContain(res.status);
      expect(['VALIDATION_FAILED', 'INVALID_SIGNATURE']).toContain(res.body.error.code);
    }
    // A body naming another shop than its header is a forged binding: 401, whatever the topic.
    const mismatch = await postShopify(app, 'shop/redact', JSON.stringify({ shop_id: 4242, shop_domain: a.domain }), { shopDomain: b.domain });
    expect(mismatch.status).toBe(401);
    expect(mismatch.body.error.code).toBe('INVALID_SIGNATURE');

    expect(await tableFingerprints(env.db)).toEqual(before);
    await shopBIntact(b, bContacts);
    const [shopA] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM shops WHERE id = ${a.id}::uuid`;
    expect(shopA?.status).toBe('active');
  });
});
