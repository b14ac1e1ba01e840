import request from 'supertest';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createCampaign, createShop, type ShopFixture } from '../../../../test/factories';
import { sessionToken } from '../../../../test/session-token';
import { createProducerRedis, waitForRedis } from '../../../../lib/redis';
import { createApp } from '../app';
import { buildApiDeps } from '../build-deps';
import type { ApiDeps } from '../deps';
import { createLogger } from '../../../../lib/logger';
import { createMetrics } from '../../../../lib/metrics';
import { rateLimitGroupOf } from './rate-limit';

describe('per-shop rate limits', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ RATE_LIMIT_CAMPAIGNS_PER_MIN: '3', RATE_LIMIT_GENERAL_PER_MIN: '4' });
  });
  afterAll(async () => {
    await env.close();
  });

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;
  const hits = async (deps: ApiDeps, limiter: string) => (await deps.metrics.rateLimitHits.get()).values.find((v) => v.labels.limiter === limiter)?.value ?? 0;

  it('answers 429 RATE_LIMITED with Retry-After once a shop spends its budget; other shops and groups are unaffected', async () => {
    const { app, deps } = await env.api();
    await waitForRedis(deps.redis);
    const [a, b] = [await createShop(env.db), await createShop(env.db)];
    const token = await auth(a);
    for (let i = 0; i < 3; i++) expect((await request(app).get('/api/campaigns').set('Authorization', token)).status).toBe(200);
    const limited = await request(app).get('/api/campaigns').set('Authorization', token);
    expect(limited.status).toBe(429);
    expect(limited.body.error).toMatchObject({ code: 'RATE_LIMITED', details: { limiter: 'campaigns' } });
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await hits(deps, 'campaigns')).toBe(1);

    expect((await request(app).get('/api/wallet').set('Authorization', token)).status).toBe(200);
    expect((await request(app).get('/api/campaigns').set('Authorization', await auth(b))).status).toBe(200);
  });

  it('a limited request never reaches the idempotency layer or the handler', async () => {
    const { app, deps } = await env.api();
    await waitForRedis(deps.redis);
    const shop = await createShop(env.db, { credits: 10 });
    const c = await createCampaign(env.db, shop.id);
    const token = await auth(shop);
    for (let i = 0; i < 3; i++) await request(app).get(`/api/campaigns/${c.id}`).set('Authorization', token);
    const res = await request(app).post(`/api/campaigns/${c.id}/enqueue`).set('Authorization', token).set('Idempotency-Key', 'rl').send({});
    expect(res.status).toBe(429);
    const [row] = await env.db.$queryRaw<{ keys: bigint; status: string }[]>`
      SELECT (SELECT count(*) FROM idempotency_keys WHERE shop_id = ${shop.id}::uuid) AS keys, (SELECT status FROM campaigns WHERE id = ${c.id}::uuid) AS status`;
    expect(row).toEqual({ keys: 0n, status: 'draft' });
  });

  it('every limiter key in Redis carries an expiry', async () => {
    const { app, deps } = await env.api();
    await waitForRedis(deps.redis);
    const shop = await createShop(env.db);
    await request(app).get('/api/wallet').set('Authorization', await auth(shop));
    await request(app).get('/api/campaigns').set('Authorization', await auth(shop));
    const keys = await deps.redis.keys(`${env.prefix}:rl:*`);
    expect(keys).toEqual(expect.arrayContaining([`${env.prefix}:rl:general:${shop.domain}`, `${env.prefix}:rl:campaigns:${shop.domain}`]));
    for (const key of keys) {
      const ttl = await deps.redis.ttl(key);
      expect({ key, expires: ttl > 0 && ttl <= 60 }).toEqual({ key, expires: true });
    }
  });

  it('a request with a bad token spends nothing, and an uninstalled shop hears 401 (not 429) even with its budget spent', async () => {
    // The shop's status is changed behind the api's back: read it on every request.
    const { app, deps } = await env.api({ config: { ...env.config, SHOP_CACHE_TTL_MS: 0 } });
    await waitForRedis(deps.redis);
    const shop = await createShop(env.db);
    for (let i = 0; i < 5; i++) expect((await request(app).get('/api/campaigns').set('Authorization', 'Bearer not-a-token')).status).toBe(401);
    expect(await deps.redis.keys(`${env.prefix}:rl:campaigns:${shop.domain}`)).toEqual([]);

    const token = await auth(shop);
    for (let i = 0; i < 3; i++) expect((await request(app).get('/api/campaigns').set('Authorization', token)).status).toBe(200);
    await env.db.$executeRaw`UPDATE shops SET status = 'uninstalled', uninstalled_at = now() WHERE id = ${shop.id}::uuid`;
    const res = await request(app).get('/api/campaigns').set('Authorization', token);
    expect(res.status).toBe(401);
    expect(res.headers['x-shopify-retry-invalid-session-request']).toBe('1');
  });

  it('fails open when Redis is unreachable: requests pass, a warning is logged, fail_open is counted', async () => {
    // Built by hand, not with env.api(): the harness would wait for this Redis to clean its queues.
    const deadRedis = createProducerRedis('redis://127.0.0.1:1', { retryStrategy: () => 60_000 });
    const deps = await buildApiDeps(env.config, { redis: deadRedis, logger: createLogger({ level: 'info', name: 'api' }, env.logs), metrics: createMetrics() });
    try {
      const app = createApp(deps);
      const shop = await createShop(env.db);
      const token = await auth(shop);
      for (let i = 0; i < 6; i++) expect((await request(app).get('/api/wallet').set('Authorization', token)).status).toBe(200);
      expect(await hits(deps, 'fail_open')).toBe(6);
      expect(env.logs.lines.some((l) => l.includes('rate limiter unavailable'))).toBe(true);
    } finally {
      deadRedis.disconnect();
      await deps.db.$disconnect();
    }
  });
});

describe('rateLimitGroupOf', () => {
  it.each([
    ['POST', '/campaigns', 'campaigns'],
    ['GET', '/campaigns', 'campaigns'],
    ['POST', '/campaigns/1/enqueue', 'campaigns'],
    ['POST', '/contacts/import', 'imports'],
    // Reading an import's status or paging its rejections is not starting one.
    ['GET', '/contacts/imports/abc', 'general'],
    ['GET', '/contacts/imports/abc/rejections', 'general'],
    ['POST', '/contacts', 'general'],
    ['POST', '/contacts/importer', 'general'],
    ['POST', '/billing/checkout', 'billing'],
    ['GET', '/billing/packs', 'billing'],
    ['GET', '/wallet', 'general'],
    ['GET', '/campaignsx', 'general'],
    // A respelled path is 404 (routing is exact) and spends the budget of the route it spells.
    ['POST', '/Contacts/Import', 'imports'],
    ['GET', '/CAMPAIGNS/1', 'campaigns'],
    ['POST', '/Billing/checkout', 'billing'],
  ])('%s %s → %s', (method, path, group) => {
    expect(rateLimitGroupOf(method, path)).toBe(group);
  });
});
