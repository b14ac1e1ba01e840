import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { createContact, createShop, type ShopFixture } from '../../../../test/factories';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { sessionToken } from '../../../../test/session-token';

// The audience's order filters through the API: validated with clear 400s,
// stored normalised, and counted by preview and enqueue alike.

describe('campaign audiences with order filters', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const post = async (shop: ShopFixture, path: string, body: object = {}, key?: string) => {
    const req = request(app).post(path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`);
    if (key) req.set('Idempotency-Key', key);
    return req.send(body);
  };

  it.each([
    [{ ordersCount: {} }, 'audience.ordersCount', /min or max/],
    [{ ordersCount: { min: 3, max: 1 } }, 'audience.ordersCount.max', /min must not exceed max/],
    [{ ordersCount: { min: -1 } }, 'audience.ordersCount.min', /./],
    [{ ordersCount: { min: 1.5 } }, 'audience.ordersCount.min', /./],
    [{ amountSpent: { min: '100' } }, 'audience.amountSpent.min', /./],
    [{ amountSpent: { max: 1e16 } }, 'audience.amountSpent.max', /./],
    [{ amountSpent: { min: 1, currency: 'USD' } }, 'audience.amountSpent.currency', /unknown field/],
    [{ lastOrderAt: { from: 'last week' } }, 'audience.lastOrderAt.from', /./],
    [{ lastOrderAt: { from: '2026-11-02T00:00:00Z', to: '2026-11-01T00:00:00Z' } }, 'audience.lastOrderAt.to', /from must not be after to/],
    [{ lastOrderAt: {} }, 'audience.lastOrderAt', /from or to/],
    [{ spentMoreThan: 5 }, 'audience.spentMoreThan', /unknown field/],
  ])('refuses %j with a 400 naming %s', async (audience, path, message) => {
    const shop = await createShop(env.db);
    const res = await post(shop, '/api/campaigns', { name: 'x', body: 'hello', audience });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ path, message: expect.stringMatching(message) })]));
  });

  it('stores the filters normalised (dates in UTC) and preview and enqueue count exactly the contacts in range', async () => {
    const shop = await createShop(env.db, { credits: 100 });
    const summary = async (orders: number, spent: number, last: string | null) => {
      const c = await createContact(env.db, shop.id, { tags: ['vip'] });
      await env.db.$executeRaw`UPDATE contacts SET orders_seen = ${orders}, amount_seen_minor = ${spent}::bigint, amount_spent_currency = 'USD', last_order_at = ${last}::timestamptz WHERE id = ${c.id}::uuid`;
    };
    await summary(0, 0, null);
    await summary(2, 5_000, '2026-11-01T12:00:00Z');
    await summary(5, 50_000, '2026-11-20T12:00:00Z');
    await summary(1, 50_000, '2026-10-01T12:00:00Z');

    const audience = { tags: ['VIP'], ordersCount: { min: 2 }, amountSpent: { min: 5_000, max: 50_000 }, lastOrderAt: { from: '2026-11-01T07:00:00-05:00' } };
    const created = await post(shop, '/api/campaigns', { name: 'Repeat buyers', body: 'Thanks {{firstName|friend}}!', audience });
    expect(created.status).toBe(201);
    expect(created.body.audience).toEqual({ tags: ['vip'], ordersCount: { min: 2 }, amountSpent: { min: 5_000, max: 50_000 }, lastOrderAt: { from: '2026-11-01T12:00:00.000Z' } });

    const preview = await post(shop, `/api/campaigns/${created.body.id}/preview`);
    expect(preview.status).toBe(200);
    expect(preview.body.recipients).toBe(2);
    const enqueued = await post(shop, `/api/campaigns/${created.body.id}/enqueue`, {}, randomUUID());
    expect(enqueued.status).toBe(202);
    expect(enqueued.body.recipients).toBe(2);
    expect(enqueued.body.creditsReserved).toBe(preview.body.credits);
  });
});
