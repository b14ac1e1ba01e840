import type { Express } from 'express';
import request from 'supertest';
import type { ApiDeps } from '../../apps/api/src/deps';
import { exchangeAccessToken } from '../../domain/shops/access-token/exchange-token';
import { jobIds } from '../../queue/job-ids';
import { startFakeShopify, type FakeShopify } from '../fakes/shopify-server';
import { createContact } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { installShop } from '../shopify';
import { deliverShopify, rid } from '../webhooks';

// The attack: shop/redact's erasure now runs for minutes, in chunks, after
// the webhook. Meanwhile a valid session token of the shop (the merchant
// re-installing, or anyone holding one) would have been served a
// half-erased shop, and its token exchange would have revived it: status
// active, a fresh Admin API token stored, while the job was deleting its
// rows underneath. Now a shop whose erasure is pending is not installed:
// 401 naming the pending erasure, no exchange tried, no token stored (not
// even by an exchange already under way); once the row is gone, the next
// valid token installs a new, empty shop.

describe('a re-install during the erasure of its shop', () => {
  let fake: FakeShopify;
  let env: TestEnv;
  let app: Express;
  let api: ApiDeps;

  beforeAll(async () => {
    fake = await startFakeShopify();
    env = await createTestEnv({ SHOPIFY_INSTALL_BY_EXCHANGE: 'true', SHOPIFY_ADMIN_API_BASE: fake.url, SHOP_CACHE_TTL_MS: '0' });
    ({ app, deps: api } = await env.api());
    // No maintenance worker yet: the erasure job waits, as a long erasure would still be running.
    await env.worker({ queues: ['webhooks'] });
  });
  afterAll(async () => {
    await env?.close();
    await fake?.close();
  });

  const deliver = (topic: string, body: Record<string, unknown>, shopDomain: string): Promise<string> => deliverShopify(app, env.db, topic, body, shopDomain);
  const get = async (domain: string, path: string) => request(app).get(path).set('Authorization', `Bearer ${await sessionToken(domain)}`);
  const shopRow = async (id: string) =>
    (await env.db.$queryRaw<{ status: string; erasure_requested_at: Date | null }[]>`SELECT status, erasure_requested_at FROM shops WHERE id = ${id}::uuid`)[0];
  const tokenRows = async (id: string) =>
    env.db.$queryRaw<{ ciphertext: string | null }[]>`SELECT ciphertext FROM shop_access_tokens WHERE shop_id = ${id}::uuid`;

  it('is refused like an uninstalled shop, revives nothing, and installs a new empty shop once the erasure is done', async () => {
    const domain = `erasing-${Date.now()}.myshopify.com`;
    const shopId = await installShop(app, env.db, domain);
    await createContact(env.db, shopId);
    await createContact(env.db, shopId);
    fake.uninstall(domain);
    expect(await deliver('app/uninstalled', { id: 1, domain, myshopify_domain: domain }, domain)).toBe('processed');
    // 48 h later: shop/redact (its own stored event goes with the shop's).
    expect(await deliver('shop/redact', { shop_id: 1, shop_domain: domain }, domain)).toBe('gone');
    expect(await shopRow(shopId)).toEqual({ status: 'redacted', erasure_requested_at: expect.any(Date) });
    expect(await env.db.$queryRaw<unknown[]>`SELECT 1 FROM contacts WHERE shop_id = ${shopId}::uuid`).toHaveLength(2);
    expect(await api.queues.get('maintenance').getJob(jobIds.shopErase(shopId))).toBeDefined();

    // The merchant installs the app again while the erasure runs.
    fake.install(domain);
    const exchangesBefore = fake.exchanges.filter((e) => e.shop === domain).length;
    for (const path of ['/api/shop', '/api/contacts', '/api/campaigns']) {
      const res = await get(domain, path);
      expect({ path, status: res.status, code: res.body.error?.code, details: res.body.error?.details }).toEqual({
        path,
        status: 401,
        code: 'UNAUTHENTICATED',
        details: { reason: 'shop_erasure_pending' },
      });
    }
    const write = await request(app)
      .post('/api/contacts')
      .set('Authorization', `Bearer ${await sessionToken(domain)}`)
      .set('Idempotency-Key', rid('k'))
      .send({ phone: '+12015550123' });
    expect(write.status).toBe(401);
    expect(fake.exchanges.filter((e) => e.shop === domain)).toHaveLength(exchangesBefore);
    expect(await tokenRows(shopId)).toEqual([]);

    // An api process that read the shop just before the redact and exchanges now: the token is not kept.
    expect(await exchangeAccessToken(api, { id: shopId, domain }, await sessionToken(domain))).toBe('busy');
    expect((await tokenRows(shopId)).map((t) => t.ciphertext)).toEqual([null]);
    expect((await shopRow(shopId))!.status).toBe('redacted');

    await env.worker({ queues: ['maintenance'] });
    await waitFor('the erasure deleted the shop', async () => (await shopRow(shopId)) === undefined);

    const fresh = await get(domain, '/api/shop');
    expect(fresh.status).toBe(200);
    expect(fresh.body).toMatchObject({ domain, status: 'active' });
    expect(fresh.body.id).not.toBe(shopId);
    expect((await get(domain, '/api/contacts')).body.data).toEqual([]);
    await waitFor('the new shop exchanged its token', async () => (await tokenRows(fresh.body.id as string))[0]?.ciphertext != null);
  });
});
