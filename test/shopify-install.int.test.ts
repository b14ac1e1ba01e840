import type { Express } from 'express';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import type { ApiDeps } from '../apps/api/src/deps';
import { adminGraphql, ShopifyAdminError } from '../domain/shops/access-token/admin-graphql';
import { shopTokenCipher, tokenAad } from '../domain/shops/access-token/token-cipher';
import { readAccessToken } from '../domain/shops/access-token/token-store';
import { parseConfig } from '../lib/config';
import { createTokenCipher } from '../lib/token-cipher';
import { startFakeShopify, type FakeShopify } from './fakes/shopify-server';
import { createTestEnv, type TestEnv } from './harness';
import { waitFor } from './sending';
import { sessionToken } from './session-token';
import { installShop } from './shopify';
import { counterValue, deliverShopify } from './webhooks';

// Managed install against the fake Shopify: token exchange once per shop,
// the token encrypted at rest, rotation, invalidation and erasure.

const CURRENT_BULK = 'query { currentBulkOperation { id status } }';

describe('Shopify install by token exchange', () => {
  let fake: FakeShopify;
  let env: TestEnv;
  let app: Express;
  let deps: ApiDeps;
  let seq = 0;
  const newDomain = (): string => `install-${Date.now()}-${seq++}.myshopify.com`;
  const auth = async (domain: string) => `Bearer ${await sessionToken(domain)}`;
  const tokenRow = async (shopId: string) =>
    (
      await env.db.$queryRaw<{ ciphertext: string | null; scopes: string | null; exchange_claim: string | null; exchange_failures: number; last_exchange_error: string | null }[]>`
        SELECT ciphertext, scopes, exchange_claim::text, exchange_failures, last_exchange_error FROM shop_access_tokens WHERE shop_id = ${shopId}::uuid`
    )[0];
  const shopIdOf = async (domain: string): Promise<string> =>
    (await env.db.$queryRaw<{ id: string }[]>`SELECT id FROM shops WHERE domain = ${domain}`)[0]!.id;

  const deliver = (topic: string, body: Record<string, unknown>, shopDomain: string): Promise<string> => deliverShopify(app, env.db, topic, body, shopDomain);

  beforeAll(async () => {
    fake = await startFakeShopify({ exchangeDelayMs: 150 });
    env = await createTestEnv({ SHOPIFY_INSTALL_BY_EXCHANGE: 'true', SHOPIFY_ADMIN_API_BASE: fake.url, SHOP_CACHE_TTL_MS: '0', LOG_LEVEL: 'debug' });
    ({ app, deps } = await env.api());
    await env.worker({ queues: ['webhooks'] });
  });

  afterAll(async () => {
    await env?.close();
    await fake?.close();
  });

  it('ten concurrent first requests of a new shop exchange once; every one is served', async () => {
    const domain = newDomain();
    const token = await auth(domain);
    const responses = await Promise.all(Array.from({ length: 10 }, () => request(app).get('/api/shop').set('Authorization', token)));
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(fake.exchanges.filter((e) => e.shop === domain)).toHaveLength(1);
    expect(fake.exchanges.at(-1)!.requestedTokenType).toBe('urn:shopify:params:oauth:token-type:offline-access-token');
    const row = await tokenRow(await shopIdOf(domain));
    expect(row).toMatchObject({ scopes: 'read_customers,write_customers,read_orders', exchange_claim: null, exchange_failures: 0 });
    // Later requests find the token: no second exchange.
    expect((await request(app).get('/api/contacts').set('Authorization', await auth(domain))).status).toBe(200);
    expect(fake.exchanges.filter((e) => e.shop === domain)).toHaveLength(1);
    expect(await counterValue(deps.metrics, 'shopifyTokenExchanges', { outcome: 'exchanged' })).toBeGreaterThanOrEqual(1);
  });

  it('stores the token encrypted: the column never holds the plaintext, and refuses it', async () => {
    const domain = newDomain();
    const shopId = await installShop(app, env.db, domain);
    const plaintext = fake.exchanges.find((e) => e.shop === domain)!.accessToken;
    const row = await tokenRow(shopId);
    expect(row!.ciphertext).toMatch(/^v1:[0-9a-f]{16}:/);
    expect(row!.ciphertext).not.toContain(plaintext);
    expect(row!.ciphertext).not.toContain(plaintext.slice('shpat_'.length, 20));
    const [anywhere] = await env.db.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM shop_access_tokens t WHERE t::text LIKE ${`%${plaintext.slice(6)}%`}`;
    expect(Number(anywhere!.n)).toBe(0);
    expect(shopTokenCipher(env.config).decrypt(row!.ciphertext!, tokenAad(shopId))!.plaintext).toBe(plaintext);
    await expect(env.db.$executeRaw`UPDATE shop_access_tokens SET ciphertext = ${plaintext} WHERE shop_id = ${shopId}::uuid`).rejects.toThrow(/shop_access_tokens_ciphertext_envelope/);
  });

  it('calls the Admin API with the stored token; a 401 invalidates it and the next request exchanges again', async () => {
    const domain = newDomain();
    const shopId = await installShop(app, env.db, domain);
    await expect(adminGraphql(deps, shopId, CURRENT_BULK)).resolves.toMatchObject({ data: { currentBulkOperation: null } });
    expect(fake.graphqlCalls.at(-1)).toMatchObject({ shop: domain, status: 200 });

    fake.revokeTokens(domain);
    const err = await adminGraphql(deps, shopId, CURRENT_BULK).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShopifyAdminError);
    expect(err).toMatchObject({ kind: 'unauthorized', retryable: true });
    expect((await tokenRow(shopId))!.ciphertext).toBeNull();
    await expect(adminGraphql(deps, shopId, CURRENT_BULK)).rejects.toMatchObject({ kind: 'no_token' });

    expect((await request(app).get('/api/shop').set('Authorization', await auth(domain))).status).toBe(200);
    expect(fake.exchanges.filter((e) => e.shop === domain)).toHaveLength(2);
    await expect(adminGraphql(deps, shopId, CURRENT_BULK)).resolves.toMatchObject({ data: { currentBulkOperation: null } });
    expect(await counterValue(deps.metrics, 'shopifyAdminRequests', { outcome: 'unauthorized' })).toBe(1);
  });

  it('a THROTTLED answer is retryable with the wait its cost implies, and keeps the token', async () => {
    const domain = newDomain();
    const shopId = await installShop(app, env.db, domain);
    fake.failNext('throttled', { shop: domain });
    const err = (await adminGraphql(deps, shopId, CURRENT_BULK).catch((e: unknown) => e)) as ShopifyAdminError;
    expect(err).toMatchObject({ kind: 'throttled', retryable: true });
    // 500 requested, 50 available, 100 restored per second: 4.5 s.
    expect(err.details.retryAfterMs).toBe(4_500);
    expect((await tokenRow(shopId))!.ciphertext).not.toBeNull();
    fake.failNext('server_error', { shop: domain });
    await expect(adminGraphql(deps, shopId, CURRENT_BULK)).rejects.toMatchObject({ kind: 'unavailable', retryable: true });
    await expect(adminGraphql(deps, shopId, 'query { shop { name } }')).rejects.toMatchObject({ kind: 'failed', retryable: false });
  });

  it('a failed exchange does not fail the request; it is retried on a later request, not before its back-off', async () => {
    const domain = newDomain();
    fake.failNext('exchange_server_error', { shop: domain });
    const before = await counterValue(deps.metrics, 'shopifyTokenExchanges', { outcome: 'failed' });
    expect((await request(app).get('/api/shop').set('Authorization', await auth(domain))).status).toBe(200);
    const shopId = await shopIdOf(domain);
    expect(await tokenRow(shopId)).toMatchObject({ ciphertext: null, exchange_claim: null, exchange_failures: 1 });
    expect((await tokenRow(shopId))!.last_exchange_error).toMatch(/500/);
    expect(await counterValue(deps.metrics, 'shopifyTokenExchanges', { outcome: 'failed' })).toBe(before + 1);
    expect(env.logs.text()).toMatch(/shopify token exchange failed; retried on a later request/);

    const attempts = fake.exchanges.length;
    expect((await request(app).get('/api/shop').set('Authorization', await auth(domain))).status).toBe(200);
    expect(fake.exchanges.length).toBe(attempts);
    // The back-off ran out.
    await env.db.$executeRaw`UPDATE shop_access_tokens SET exchange_not_before = now() - interval '1 second' WHERE shop_id = ${shopId}::uuid`;
    expect((await request(app).get('/api/shop').set('Authorization', await auth(domain))).status).toBe(200);
    expect(fake.exchanges.filter((e) => e.shop === domain)).toHaveLength(1);
    expect((await tokenRow(shopId))!.ciphertext).not.toBeNull();
  });

  it('rotation: a token under the previous key is read and re-encrypted with the current key on use', async () => {
    const domain = newDomain();
    const shopId = await installShop(app, env.db, domain);
    const plaintext = fake.exchanges.find((e) => e.shop === domain)!.accessToken;
    const oldKey = env.config.SHOP_TOKEN_ENCRYPTION_KEY;
    const newKey = randomBytes(32).toString('hex');
    const underOld = (await tokenRow(shopId))!.ciphertext!;
    const rotated = { ...deps, config: parseConfig({ ...process.env, DATABASE_URL: env.config.DATABASE_URL, SHOP_TOKEN_ENCRYPTION_KEY: newKey, SHOP_TOKEN_ENCRYPTION_KEYS_PREVIOUS: oldKey, SHOPIFY_ADMIN_API_BASE: fake.url }) };
    const newKeyId = createTokenCipher(newKey).currentKeyId;
    expect(underOld.split(':')[1]).not.toBe(newKeyId);

    await expect(adminGraphql(rotated, shopId, CURRENT_BULK)).resolves.toMatchObject({ data: { currentBulkOperation: null } });
    const after = (await tokenRow(shopId))!.ciphertext!;
    expect(after.split(':')[1]).toBe(newKeyId);
    expect(createTokenCipher(newKey).decrypt(after, tokenAad(shopId))!.plaintext).toBe(plaintext);
    // Without the old key the old envelope is unreadable: it counts as no token (the shop exchanges again).
    const newOnly = parseConfig({ ...process.env, SHOP_TOKEN_ENCRYPTION_KEY: newKey });
    expect(await readAccessToken(env.db, shopTokenCipher(newOnly), shopId)).toMatchObject({ accessToken: plaintext });
    await env.db.$executeRaw`UPDATE shop_access_tokens SET ciphertext = ${underOld} WHERE shop_id = ${shopId}::uuid`;
    expect(await readAccessToken(env.db, shopTokenCipher(newOnly), shopId)).toBeNull();
  });

  it('app/scopes_update invalidates the token; the next request exchanges again', async () => {
    const domain = newDomain();
    const shopId = await installShop(app, env.db, domain);
    const body = { id: 1, previous: ['read_customers'], current: ['read_customers', 'write_customers', 'read_orders'], updated_at: new Date(Date.now() + 1000).toISOString() };
    expect(await deliver('app/scopes_update', body, domain)).toBe('processed');
    expect((await tokenRow(shopId))!.ciphertext).toBeNull();
    expect((await request(app).get('/api/shop').set('Authorization', await auth(domain))).status).toBe(200);
    expect(fake.exchanges.filter((e) => e.shop === domain)).toHaveLength(2);
    expect((await tokenRow(shopId))!.ciphertext).not.toBeNull();
    // An update from before the new token was obtained (delivered late) keeps it.
    expect(await deliver('app/scopes_update', { ...body, id: 2, updated_at: new Date(Date.now() - 60_000).toISOString() }, domain)).toBe('processed');
    expect((await tokenRow(shopId))!.ciphertext).not.toBeNull();
  });

  it('app/uninstalled erases the token; a re-install (a successful exchange) serves the shop again', async () => {
    const domain = newDomain();
    const shopId = await installShop(app, env.db, domain);
    fake.uninstall(domain);
    expect(await deliver('app/uninstalled', { id: 1, domain, myshopify_domain: domain }, domain)).toBe('processed');
    expect(await tokenRow(shopId)).toBeUndefined();
    const refused = await request(app).get('/api/shop').set('Authorization', await auth(domain));
    expect(refused.status).toBe(401);
    expect(fake.exchanges.filter((e) => e.shop === domain)).toHaveLength(1);

    fake.install(domain);
    await env.db.$executeRaw`UPDATE shop_access_tokens SET exchange_not_before = NULL WHERE shop_id = ${shopId}::uuid`;
    const back = await request(app).get('/api/shop').set('Authorization', await auth(domain));
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ id: shopId, status: 'active' });
    expect(fake.exchanges.filter((e) => e.shop === domain)).toHaveLength(2);
    expect(await counterValue(deps.metrics, 'shopifyTokenExchanges', { outcome: 'reinstalled' })).toBe(1);
  });

  it('the fake plays the bulk-operation lifecycle, its JSONL download and the consent mutation through the real client', async () => {
    const domain = newDomain();
    const shopId = await installShop(app, env.db, domain);
    fake.seedCustomers(domain, (i) => ({ phone: `+1555010${String(i).padStart(4, '0')}`, smsMarketingConsent: { marketingState: i % 2 ? 'SUBSCRIBED' : 'NOT_SUBSCRIBED' } }), 3);
    const run = `mutation { bulkOperationRunQuery(query: """{ customers { edges { node { id phone } } } }""") { bulkOperation { id status } userErrors { field message } } }`;
    const started = await adminGraphql<{ bulkOperationRunQuery: { bulkOperation: { id: string } } }>(deps, shopId, run);
    const id = started.data.bulkOperationRunQuery.bulkOperation.id;
    // One in progress per shop, as Shopify.
    const again = await adminGraphql<{ bulkOperationRunQuery: { userErrors: { message: string }[] } }>(deps, shopId, run);
    expect(again.data.bulkOperationRunQuery.userErrors[0]!.message).toMatch(/already in progress/);
    const polled = await adminGraphql<{ node: { status: string; url: string; objectCount: string } }>(deps, shopId, 'query($id: ID!) { node(id: $id) { ... on BulkOperation { status url objectCount } } }', { id });
    expect(polled.data.node).toMatchObject({ status: 'COMPLETED', objectCount: '3' });
    const lines = (await (await fetch(polled.data.node.url)).text()).trim().split('\n').map((l) => JSON.parse(l) as { id: string; phone: string });
    expect(lines.map((l) => l.phone)).toEqual(['+15550100000', '+15550100001', '+15550100002']);

    const consent = `mutation($input: CustomerSmsMarketingConsentUpdateInput!) { customerSmsMarketingConsentUpdate(input: $input) { customer { id } userErrors { field message } } }`;
    await adminGraphql(deps, shopId, consent, { input: { customerId: lines[1]!.id, smsMarketingConsent: { marketingState: 'UNSUBSCRIBED' } } });
    expect(fake.consentUpdates).toEqual([{ shop: domain, customerId: lines[1]!.id, smsMarketingConsent: { marketingState: 'UNSUBSCRIBED' } }]);
    expect(fake.customers(domain)[1]!.smsMarketingConsent!.marketingState).toBe('UNSUBSCRIBED');

    fake.failNextBulkOperation({ shop: domain });
    const failing = await adminGraphql<{ bulkOperationRunQuery: { bulkOperation: { id: string } } }>(deps, shopId, run);
    const current = await adminGraphql<{ currentBulkOperation: { id: string; status: string; errorCode: string } }>(deps, shopId, 'query { currentBulkOperation { id status errorCode } }');
    expect(current.data.currentBulkOperation).toEqual({ ...current.data.currentBulkOperation, id: failing.data.bulkOperationRunQuery.bulkOperation.id, status: 'FAILED', errorCode: 'INTERNAL_SERVER_ERROR' });
    expect(fake.bulkFinishWebhook(fake.bulkOperations.at(-1)!)).toMatchObject({ status: 'failed', error_code: 'internal_server_error', type: 'query' });
  });

  it('a slow exchange does not hold the request: it is answered first, the token arrives after', async () => {
    const domain = newDomain();
    fake.exchangeDelayMs = 2_500;
    try {
      expect((await request(app).get('/api/shop').set('Authorization', await auth(domain))).status).toBe(200);
      expect(fake.exchanges.filter((e) => e.shop === domain)).toHaveLength(0);
      const shopId = await shopIdOf(domain);
      await waitFor('the token stored', async () => (await tokenRow(shopId))?.ciphertext != null);
      expect(fake.exchanges.filter((e) => e.shop === domain)).toHaveLength(1);
    } finally {
      fake.exchangeDelayMs = 150;
    }
  });

  // Last: a second config in this process sets the library's (process-wide) timeout.
  it('an exchange is bounded by SHOPIFY_API_TIMEOUT_MS; the request is served meanwhile', async () => {
    const slow = await env.api({ config: parseConfig({ ...process.env, DATABASE_URL: env.config.DATABASE_URL, QUEUE_PREFIX: env.prefix, SHOPIFY_INSTALL_BY_EXCHANGE: 'true', SHOPIFY_ADMIN_API_BASE: fake.url, SHOP_CACHE_TTL_MS: '0', SHOPIFY_API_TIMEOUT_MS: '300' }) });
    fake.exchangeDelayMs = 2_000;
    try {
      const domain = newDomain();
      expect((await request(slow.app).get('/api/shop').set('Authorization', await auth(domain))).status).toBe(200);
      expect((await tokenRow(await shopIdOf(domain)))!.last_exchange_error).toMatch(/TimeoutError|aborted/i);
    } finally {
      fake.exchangeDelayMs = 150;
    }
  });

  it('tokens appear in no log line and no response', async () => {
    const domain = newDomain();
    const token = await auth(domain);
    const bodies: string[] = [];
    for (const path of ['/api/shop', '/api/contacts', '/api/wallet']) {
      const res = await request(app).get(path).set('Authorization', token);
      bodies.push(JSON.stringify(res.headers), res.text);
    }
    const issued = fake.exchanges.map((e) => e.accessToken);
    expect(issued.length).toBeGreaterThan(5);
    const logs = env.logs.text();
    expect(logs).toMatch(/shopify offline access token stored/);
    for (const t of issued) {
      expect(logs).not.toContain(t);
      expect(logs).not.toContain(t.slice(6));
      for (const b of bodies) expect(b).not.toContain(t);
    }
    // Nor the session tokens the exchanges carried.
    expect(logs).not.toContain(token.slice('Bearer '.length));
  });
});
