import request from 'supertest';
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../harness';
import { createShop, type ShopFixture } from '../factories';
import { sessionToken } from '../session-token';

// The attack: one shop posts import after import (each up to 10 MiB staged
// in Postgres and a job on the shared imports queue) faster than the worker
// finishes them. A shop now has at most one import queued or running: the
// next one is refused with 409 IMPORT_IN_PROGRESS naming the one in flight,
// and is accepted again once that one has ended.

describe('one shop queues imports without bound', () => {
  let env: TestEnv;
  let app: Express;
  beforeAll(async () => {
    env = await createTestEnv({ RATE_LIMIT_IMPORTS_PER_MIN: '1000' });
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const submit = async (shop: ShopFixture, key = randomUUID()) =>
    request(app)
      .post('/api/contacts/import')
      .set('Authorization', `Bearer ${await sessionToken(shop.domain)}`)
      .set('Idempotency-Key', key)
      .send({ contacts: Array.from({ length: 1_000 }, (_, i) => ({ phone: `+1201${3_000_000 + i}` })) });
  const inFlight = async (shopId: string) =>
    Number((await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM contact_imports WHERE shop_id = ${shopId}::uuid AND status IN ('queued', 'running')`)[0]!.n);

  // Before any worker runs, so none of them can end in between.
  it('concurrent first imports of one shop: exactly one is accepted', async () => {
    const shop = await createShop(env.db);
    const results = await Promise.all(Array.from({ length: 4 }, () => submit(shop)));
    expect(results.map((r) => r.status).sort()).toEqual([202, 409, 409, 409]);
    expect(await inFlight(shop.id)).toBe(1);
  });

  it('a second import of a shop while one is in flight is 409 IMPORT_IN_PROGRESS and stores nothing; other shops are not affected', async () => {
    const shop = await createShop(env.db);
    const other = await createShop(env.db);
    const first = await submit(shop);
    expect(first.status).toBe(202);

    const refusedKey = randomUUID();
    const burst = await Promise.all(Array.from({ length: 5 }, (_, i) => submit(shop, i === 0 ? refusedKey : undefined)));
    for (const res of burst) {
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject({ code: 'IMPORT_IN_PROGRESS', details: { importId: first.body.importId } });
    }
    expect(await inFlight(shop.id)).toBe(1);
    expect((await submit(other)).status).toBe(202);

    // Once the first has ended the shop may import again, and the refused key may be retried.
    await env.worker({ queues: ['imports'] });
    for (;;) {
      const st = await request(app).get(`/api/contacts/imports/${first.body.importId}`).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`);
      if (st.body.status === 'completed') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const again = await submit(shop, refusedKey);
    expect(again.status).toBe(202);
    expect(again.body.importId).not.toBe(first.body.importId);
  });
});
