import type { Express } from 'express';
import request from 'supertest';
import { createTestEnv, type TestEnv } from '../harness';
import { createContactImport, createShop } from '../factories';
import { sessionToken } from '../session-token';

// Attack: hand a list route a cursor we never minted whose date parses in
// JavaScript but not in Postgres (year -100000, year 300000, or one that
// makes Date.toISOString throw). It answered 500 INTERNAL (and logged an
// unexpected error per request). Closed: a cursor date outside what the API
// can have written is 400 VALIDATION_FAILED on `cursor`, on every list route.

let env: TestEnv;
let app: Express;
let token: string;
let importId: string;
beforeAll(async () => {
  env = await createTestEnv();
  ({ app } = await env.api());
  const shop = await createShop(env.db);
  token = await sessionToken(shop.domain);
  importId = (await createContactImport(env.db, shop.id)).id;
});
afterAll(async () => {
  await env.close();
});

const ID = '3f0b6c1e-2a4d-4c8e-9f10-1234567890ab';
const cursor = (payload: unknown): string => Buffer.from(JSON.stringify(payload)).toString('base64url');

const CRAFTED = {
  'year -100000': cursor({ createdAt: '-100000-01-01T00:00:00.000Z', id: ID }),
  'year 300000': cursor({ createdAt: '+275000-01-01T00:00:00.000Z', id: ID }),
  'year 4714 BC': cursor({ createdAt: '-004714-01-01T00:00:00.000Z', id: ID }),
  'year 0': cursor({ createdAt: '0000-01-01T00:00:00.000Z', id: ID }),
  'a date as a number': cursor({ createdAt: 8.64e15, id: ID }),
  'a row past int4': cursor({ row: 2 ** 40 }),
};

const ROUTES = ['/api/contacts', '/api/campaigns', '/api/wallet/transactions', '/api/privacy/requests', () => `/api/contacts/imports/${importId}/rejections`];

describe.each(ROUTES.map((r) => [typeof r === 'string' ? r : '/api/contacts/imports/:id/rejections', r] as const))('GET %s', (_label, route) => {
  it.each(Object.entries(CRAFTED))('answers 400 on cursor for %s', async (_what, c) => {
    const path = typeof route === 'string' ? route : route();
    const res = await request(app).get(`${path}?cursor=${c}`).set('Authorization', `Bearer ${token}`);
    expect({ status: res.status, code: res.body.error?.code }).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
    expect(res.body.error.details).toEqual([expect.objectContaining({ path: 'cursor' })]);
  });

  it('still answers a first page', async () => {
    const path = typeof route === 'string' ? route : route();
    const res = await request(app).get(`${path}?limit=1`).set('Authorization', `Bearer ${token}`);
    expect(res.status).toBe(200);
  });
});
