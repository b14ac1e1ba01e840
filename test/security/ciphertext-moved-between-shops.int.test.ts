import type { Express } from 'express';
import request from 'supertest';
import type { ApiDeps } from '../../apps/api/src/deps';
import { adminGraphql } from '../../domain/shops/access-token/admin-graphql';
import { shopTokenCipher } from '../../domain/shops/access-token/token-cipher';
import { readAccessToken } from '../../domain/shops/access-token/token-store';
import { startFakeShopify, type FakeShopify } from '../fakes/shopify-server';
import { createTestEnv, type TestEnv } from '../harness';
import { sessionToken } from '../session-token';
import { installShop } from '../shopify';

// Attack: someone who can write to the database (an injection elsewhere, a
// restored backup, an operator's mistake) but does not hold the key copies
// shop A's encrypted access token into shop B's row, so that B's jobs act on
// A's store (read A's customers into B, write consent to A). Closed: the
// AES-GCM additional data is `shop:<id>`, so the ciphertext authenticates
// only in its own shop's row; in B's it is no token at all, B's Admin API
// calls are refused without reaching Shopify, and B's next request simply
// exchanges B's own token.

let fake: FakeShopify;
let env: TestEnv;
let app: Express;
let deps: ApiDeps;
beforeAll(async () => {
  fake = await startFakeShopify();
  env = await createTestEnv({ SHOPIFY_INSTALL_BY_EXCHANGE: 'true', SHOPIFY_ADMIN_API_BASE: fake.url, SHOP_CACHE_TTL_MS: '0' });
  ({ app, deps } = await env.api());
});
afterAll(async () => {
  await env?.close();
  await fake?.close();
});

it('a token ciphertext copied to another shop does not decrypt there, and is never sent to Shopify', async () => {
  const a = `victim-${Date.now()}.myshopify.com`;
  const b = `attacker-${Date.now()}.myshopify.com`;
  const shopA = await installShop(app, env.db, a);
  const shopB = await installShop(app, env.db, b);
  const tokenA = fake.exchanges.find((e) => e.shop === a)!.accessToken;

  await env.db.$executeRaw`
    UPDATE shop_access_tokens SET ciphertext = (SELECT ciphertext FROM shop_access_tokens WHERE shop_id = ${shopA}::uuid)
     WHERE shop_id = ${shopB}::uuid`;
  expect(await readAccessToken(env.db, shopTokenCipher(env.config), shopB)).toBeNull();
  const calls = fake.graphqlCalls.length;
  await expect(adminGraphql(deps, shopB, 'query { currentBulkOperation { id } }')).rejects.toMatchObject({ kind: 'no_token' });
  expect(fake.graphqlCalls.length).toBe(calls);

  // A's own row still works, and B recovers with its own token, never A's.
  expect((await readAccessToken(env.db, shopTokenCipher(env.config), shopA))!.accessToken).toBe(tokenA);
  await env.db.$executeRaw`UPDATE shop_access_tokens SET ciphertext = NULL WHERE shop_id = ${shopB}::uuid`;
  expect((await request(app).get('/api/shop').set('Authorization', `Bearer ${await sessionToken(b)}`)).status).toBe(200);
  const tokenB = (await readAccessToken(env.db, shopTokenCipher(env.config), shopB))!.accessToken;
  expect(tokenB).not.toBe(tokenA);
  expect(fake.tokensOf(b)).toContain(tokenB);
});
