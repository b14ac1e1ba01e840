import request from 'supertest';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createCampaign, createShop } from '../../../../test/factories';
import { randomBytes } from 'node:crypto';
import { signInternalRequest } from '../../../../domain/ops/internal-signature';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});

const SECRET = process.env.INTERNAL_SIGNING_SECRET as string;
/** Headers of one signed request, with a fresh nonce unless one is given. */
function signed(method: 'GET' | 'POST', pathWithQuery: string, body = '', opts: { secret?: string; ts?: number; nonce?: string } = {}) {
  const timestampSec = opts.ts ?? Math.floor(Date.now() / 1000);
  const nonce = opts.nonce ?? randomBytes(16).toString('base64url');
  const signature = signInternalRequest(opts.secret ?? SECRET, { method, pathWithQuery, body, timestampSec, nonce });
  return { 'X-Internal-Timestamp': String(timestampSec), 'X-Internal-Nonce': nonce, 'X-Internal-Signature': signature, 'Content-Type': 'application/json' };
}

describe('/internal/* signature', () => {
  it('accepts a valid signature', async () => {
    const { app } = await env.api();
    const res = await request(app).post('/internal/reconcile').set(signed('POST', '/internal/reconcile', '{}')).send('{}');
    expect(res.status).toBe(200);
    expect(res.body.repairs).toHaveProperty('stale_lease');
  });

  it.each([
    ['missing headers', {}],
    ['a wrong secret', signed('POST', '/internal/reconcile', '{}', { secret: 'not-the-secret-at-all' })],
    ['a signature over another body', signed('POST', '/internal/reconcile', '{"campaignId":null}')],
    ['a signature for another path', signed('POST', '/internal/reservations/x/release', '{}')],
    ['a replay after 5 minutes', signed('POST', '/internal/reconcile', '{}', { ts: Math.floor(Date.now() / 1000) - 400 })],
    ['a timestamp from the future', signed('POST', '/internal/reconcile', '{}', { ts: Math.floor(Date.now() / 1000) + 400 })],
    ['no nonce', (({ 'X-Internal-Nonce': _n, ...rest }) => rest)(signed('POST', '/internal/reconcile', '{}'))],
    ['a nonce other than the signed one', { ...signed('POST', '/internal/reconcile', '{}'), 'X-Internal-Nonce': randomBytes(16).toString('base64url') }],
    ['a nonce of the wrong shape', signed('POST', '/internal/reconcile', '{}', { nonce: 'short' })],
    ['a signature for the path with another query', signed('POST', '/internal/reconcile?dry=1', '{}')],
  ])('refuses %s with 401 INVALID_SIGNATURE', async (_what, headers) => {
    const { app } = await env.api();
    const res = await request(app).post('/internal/reconcile').set(headers as Record<string, string>).send('{}');
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('INVALID_SIGNATURE');
  });

  it('signs the query: a request signed with its query passes, and its nonce then cannot be used again', async () => {
    const { app } = await env.api();
    const headers = signed('POST', '/internal/reconcile?dry=1', '{}');
    expect((await request(app).post('/internal/reconcile?dry=1').set(headers).send('{}')).status).toBe(200);
    const again = await request(app).post('/internal/reconcile?dry=1').set(headers).send('{}');
    expect([again.status, again.body.error.code]).toEqual([401, 'INVALID_SIGNATURE']);
    const ttl = await env.workerDeps().redis.ttl(`${env.prefix}:internal-nonce:${headers['X-Internal-Nonce']}`);
    expect(ttl).toBeGreaterThan(300); // kept while its timestamp can still be accepted
    expect(ttl).toBeLessThanOrEqual(601);
  });

  it('is disabled (404), not open, without INTERNAL_SIGNING_SECRET', async () => {
    const { app } = await env.api({ config: { ...env.config, INTERNAL_SIGNING_SECRET: undefined } });
    const res = await request(app).post('/internal/reconcile').set(signed('POST', '/internal/reconcile', '{}')).send('{}');
    expect(res.status).toBe(404);
  });
});

describe('/internal operations', () => {
  it('inspects a campaign of any shop, and 404s an unknown one', async () => {
    const { app } = await env.api();
    const shop = await createShop(env.db);
    const c = await createCampaign(env.db, shop.id);
    const path = `/internal/campaigns/${c.id}`;
    const res = await request(app).get(path).set(signed('GET', path));
    expect(res.status).toBe(200);
    expect(res.body.campaign).toMatchObject({ id: c.id, shopDomain: shop.domain, status: 'draft' });
    expect(res.body.jobs.launch).toBe('missing');
    const missing = `/internal/campaigns/00000000-0000-4000-8000-000000000000`;
    expect((await request(app).get(missing).set(signed('GET', missing))).status).toBe(404);
  });

  it('releases a stuck reservation once (idempotent)', async () => {
    const { app } = await env.api();
    const shop = await createShop(env.db, { credits: 40 });
    const c = await createCampaign(env.db, shop.id, { status: 'sending' });
    await env.db.$executeRaw`UPDATE credit_wallets SET reserved = 25 WHERE shop_id = ${shop.id}::uuid`;
    const [r] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO credit_reservations (shop_id, campaign_id, reservation_key, amount) VALUES (${shop.id}::uuid, ${c.id}::uuid, 'stuck', 25) RETURNING id`;
    const path = `/internal/reservations/${r!.id}/release`;
    const first = await request(app).post(path).set(signed('POST', path, '{}')).send('{}');
    const second = await request(app).post(path).set(signed('POST', path, '{}')).send('{}');
    expect([first.status, second.status]).toEqual([200, 200]);
    expect([first.body.released, second.body.released]).toEqual([25, 0]);
    const [w] = await env.db.$queryRaw<{ reserved: bigint }[]>`SELECT reserved FROM credit_wallets WHERE shop_id = ${shop.id}::uuid`;
    expect(Number(w!.reserved)).toBe(0);
  });

  it('replays a stored webhook event', async () => {
    const { app, deps } = await env.api();
    const [e] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO webhook_events (provider, event_id, topic, payload, status, attempts, last_error) VALUES ('stripe', 'evt_replay', 'charge.refunded', '{}'::jsonb, 'failed', 8, 'boom') RETURNING id`;
    const path = `/internal/webhooks/${e!.id}/replay`;
    const res = await request(app).post(path).set(signed('POST', path, '{}')).send('{}');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ id: e!.id, outcome: 'requeued' });
    const [row] = await env.db.$queryRaw<{ status: string; attempts: number }[]>`SELECT status, attempts FROM webhook_events WHERE id = ${e!.id}::uuid`;
    expect(row).toEqual({ status: 'received', attempts: 0 });
    expect(await deps.queues.get('webhooks').getJob(`webhook-${e!.id}`)).toBeDefined();
  });
});
