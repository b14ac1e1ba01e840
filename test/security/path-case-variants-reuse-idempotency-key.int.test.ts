import request from 'supertest';
import { createTestEnv, type TestEnv } from '../harness';
import { createShop } from '../factories';
import { sessionToken } from '../session-token';

// The attack: one Idempotency-Key, several spellings of the same route. The
// key's scope held the mount path as sent (`/API` + `/campaigns`), so each
// spelling was a new scope and each created a campaign. Now a respelled path
// matches no route (404) and the scope is the route template.

describe('path case variants do not reuse an Idempotency-Key', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => {
    await env.close();
  });

  it('one key sent to POST /api/campaigns under five spellings creates one campaign', async () => {
    const { app } = await env.api();
    const shop = await createShop(env.db);
    const auth = `Bearer ${await sessionToken(shop.domain)}`;
    const body = { name: 'Spring sale', body: 'Hello {{firstName}}' };
    const send = (path: string) => request(app).post(path).set('Authorization', auth).set('Idempotency-Key', 'one-key').send(body);

    const first = await send('/api/campaigns');
    expect(first.status).toBe(201);

    const variants = ['/API/campaigns', '/Api/campaigns', '/api/Campaigns', '/api/CAMPAIGNS', '/api/campaigns/'];
    const outcomes = [];
    for (const path of variants) {
      const res = await send(path);
      // Either no such route, or the first request's stored response.
      const sameRecord = res.status === 201 && res.body.id === first.body.id && res.headers['x-idempotency-replay'] === 'true';
      outcomes.push({ path, ok: res.status === 404 || sameRecord });
    }
    expect(outcomes).toEqual(variants.map((path) => ({ path, ok: true })));

    const [row] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM campaigns WHERE shop_id = ${shop.id}::uuid`;
    expect(row?.n).toBe(1n);
    const scopes = await env.db.$queryRaw<{ method: string; route: string }[]>`SELECT method, route FROM idempotency_keys WHERE shop_id = ${shop.id}::uuid`;
    expect(scopes).toEqual([{ method: 'POST', route: '/api/campaigns' }]);
  });
});
