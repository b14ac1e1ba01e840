import type { Express } from 'express';
import request from 'supertest';
import { createTestEnv, type TestEnv } from '../harness';
import { createShop } from '../factories';
import { sessionToken } from '../session-token';

// Attack: a session token that leaked once (a browser extension, a proxy
// log, a screenshot of devtools) is a bearer credential for its whole life;
// a token minted with a 10-year exp (or without iat, or issued "in the
// future") was accepted for all of it. Shopify's tokens live one minute.
// Closed: exp - iat and exp - now are at most 5 minutes (plus 10 s of clock
// skew), and iat is required and not in the future.

let env: TestEnv;
let app: Express;
let domain: string;
beforeAll(async () => {
  env = await createTestEnv();
  ({ app } = await env.api());
  domain = (await createShop(env.db)).domain;
});
afterAll(async () => {
  await env.close();
});

const DAY = 86_400;
const get = async (token: string): Promise<{ status: number; code?: string }> => {
  const res = await request(app).get('/api/shop').set('Authorization', `Bearer ${token}`);
  return { status: res.status, code: res.body.error?.code };
};

it.each([
  ['a 10-year exp', { expiresInSec: 3_650 * DAY }],
  ['a one-hour exp', { expiresInSec: 3_600 }],
  ['a lifetime of 10 years ending in a minute (iat long past)', { iatOffsetSec: -3_650 * DAY, expiresInSec: 60 }],
  ['no iat', { iatOffsetSec: null }],
  ['an iat an hour in the future', { iatOffsetSec: 3_600, expiresInSec: 3_660 }],
])('refuses a token with %s: 401', async (_what, opts) => {
  expect(await get(await sessionToken(domain, opts))).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
});

it.each([
  ["Shopify's one minute", { expiresInSec: 60 }],
  ['the 5-minute maximum', { expiresInSec: 300 }],
  ['an iat 5 s ahead (clock skew)', { iatOffsetSec: 5, expiresInSec: 60 }],
])('accepts a token with %s', async (_what, opts) => {
  expect((await get(await sessionToken(domain, opts))).status).toBe(200);
});
