import request from 'supertest';
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createCampaign, createShop, type ShopFixture } from '../../../../test/factories';
import { sessionToken } from '../../../../test/session-token';

describe('DELETE /api/campaigns/:id', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;
  const del = async (shop: ShopFixture, id: string, key?: string) => {
    const req = request(app).delete(`/api/campaigns/${id}`).set('Authorization', await auth(shop));
    if (key) req.set('Idempotency-Key', key);
    return req;
  };
  const exists = async (id: string) => (await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM campaigns WHERE id = ${id}::uuid`)[0]!.n === 1;

  it('deletes a draft (204), which is then gone from reads and lists; a second DELETE is 404', async () => {
    const shop = await createShop(env.db);
    const draft = await createCampaign(env.db, shop.id, { status: 'draft' });
    const kept = await createCampaign(env.db, shop.id, { status: 'draft' });
    const res = await del(shop, draft.id);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(await exists(draft.id)).toBe(false);
    expect((await request(app).get(`/api/campaigns/${draft.id}`).set('Authorization', await auth(shop))).status).toBe(404);
    const list = await request(app).get('/api/campaigns').set('Authorization', await auth(shop));
    expect(list.body.data.map((c: { id: string }) => c.id)).toEqual([kept.id]);

    const again = await del(shop, draft.id);
    expect(again.status).toBe(404);
    expect(again.body.error.code).toBe('NOT_FOUND');
  });

  it('with an Idempotency-Key a retry replays the 204; the same key on another draft is 422', async () => {
    const shop = await createShop(env.db);
    const draft = await createCampaign(env.db, shop.id, { status: 'draft' });
    const key = randomUUID();
    const first = await del(shop, draft.id, key);
    expect(first.status).toBe(204);
    expect(first.headers['x-idempotency-stored']).toBe('true');
    const replay = await del(shop, draft.id, key);
    expect(replay.status).toBe(204);
    expect(replay.headers['x-idempotency-replay']).toBe('true');
    const other = await createCampaign(env.db, shop.id, { status: 'draft' });
    const reused = await del(shop, other.id, key);
    expect(reused.status).toBe(422);
    expect(reused.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    expect(await exists(other.id)).toBe(true);
  });

  it.each(['scheduled', 'queued', 'sending', 'completed', 'cancelled', 'failed'])('a %s campaign is 409 INVALID_STATE naming its status, and stays', async (status) => {
    const shop = await createShop(env.db);
    const c = await createCampaign(env.db, shop.id, { status, ...(status === 'scheduled' ? { scheduledAt: new Date(Date.now() + 3_600_000) } : {}) });
    const res = await del(shop, c.id);
    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'INVALID_STATE', details: { status }, requestId: expect.any(String) });
    expect(await exists(c.id)).toBe(true);
  });

  it("another shop's draft is 404 and stays; a malformed id is 404; a body is 400", async () => {
    const owner = await createShop(env.db);
    const other = await createShop(env.db);
    const draft = await createCampaign(env.db, owner.id, { status: 'draft' });
    const res = await del(other, draft.id);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
    expect(await exists(draft.id)).toBe(true);
    expect((await del(owner, 'not-a-uuid')).status).toBe(404);
    const withBody = await request(app).delete(`/api/campaigns/${draft.id}`).set('Authorization', await auth(owner)).send({ force: true });
    expect(withBody.status).toBe(400);
    expect(await exists(draft.id)).toBe(true);
    expect((await request(app).delete(`/api/campaigns/${draft.id}`)).status).toBe(401);
  });
});
