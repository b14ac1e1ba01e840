import request from 'supertest';
import express, { type Express, type Router } from 'express';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createCampaign, createContact, createShop, type ShopFixture } from '../../../../test/factories';
import { sessionToken } from '../../../../test/session-token';
import { createDb } from '../../../../lib/db';
import { enqueueCampaign } from '../../../../domain/campaigns/enqueue-campaign';
import { completeIdempotencyKey } from '../../../../domain/idempotency/complete-key';
import { requestFingerprint } from '../../../../domain/idempotency/fingerprint';
import { fencedGuard } from '../../../../domain/idempotency/guard';
import type { ApiDeps } from '../deps';
import { apiRouters } from '../routes';
import { errorHandler } from './error-handler';
import { IDEMPOTENCY_MIDDLEWARE, idempotency, idempotencyGuardOf, type IdempotencyOptions } from './idempotency';
import { MiB } from './body-limit';
import { jsonBody } from './json-body';
import { requestContext } from './request-context';
import { recordRouteTemplates } from './route-template';
import { validated } from './validated';

describe('idempotency layer', () => {
  let env: TestEnv;
  let app: Express;
  let deps: ApiDeps;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app, deps } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;
  const send = async (shop: ShopFixture, path: string, body: object | string, key?: string) => {
    const req = request(app).post(path).set('Authorization', await auth(shop)).set('Content-Type', 'application/json');
    if (key !== undefined) req.set('Idempotency-Key', key);
    return req.send(typeof body === 'string' ? body : JSON.stringify(body));
  };
  const countCampaigns = async (shopId: string) => {
    const [r] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM campaigns WHERE shop_id = ${shopId}::uuid`;
    return Number(r!.n);
  };
  const keyRows = async (shopId: string) =>
    env.db.$queryRaw<{ key: string; route: string; status: string; fence: number; response_status: number | null; ttl_ms: number }[]>`
      SELECT key, route, status, fence, response_status, (extract(epoch FROM expires_at - updated_at) * 1000)::float8 AS ttl_ms
        FROM idempotency_keys WHERE shop_id = ${shopId}::uuid ORDER BY created_at`;
  const outboxCount = async (aggregateId: string) => {
    const [r] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM outbox_events WHERE aggregate_id = ${aggregateId}`;
    return Number(r!.n);
  };
  const outcome = async (name: string) => (await deps.metrics.idempotencyRequests.get()).values.find((v) => v.labels.outcome === name)?.value ?? 0;
  const campaignBody = { name: 'Sale', body: 'Hi {{firstName|there}}', audience: { tags: ['a', 'b'] } };

  describe('the Idempotency-Key header', () => {
    it('is required on enqueue and cancel: 400 IDEMPOTENCY_KEY_REQUIRED', async () => {
      const shop = await createShop(env.db);
      const c = await createCampaign(env.db, shop.id);
      for (const path of [`/api/campaigns/${c.id}/enqueue`, `/api/campaigns/${c.id}/cancel`]) {
        const res = await send(shop, path, {});
        expect(res.status).toBe(400);
        expect(res.body.error).toMatchObject({ code: 'IDEMPOTENCY_KEY_REQUIRED', details: [{ path: 'Idempotency-Key', message: 'required' }] });
      }
      expect(await keyRows(shop.id)).toEqual([]);
    });

    it('empty, longer than 255, or not printable ASCII: 400 IDEMPOTENCY_KEY_INVALID, nothing executed', async () => {
      const shop = await createShop(env.db);
      for (const key of ['', '""', 'k'.repeat(256), '"' + 'k'.repeat(256) + '"', 'tab\there', 'café', '"a"b"', '"bad\\x"']) {
        const res = await send(shop, '/api/campaigns', campaignBody, key);
        expect({ key, status: res.status, code: res.body.error?.code }).toEqual({ key, status: 400, code: 'IDEMPOTENCY_KEY_INVALID' });
      }
      expect(await countCampaigns(shop.id)).toBe(0);
      expect(await keyRows(shop.id)).toEqual([]);
      const longest = await send(shop, '/api/campaigns', campaignBody, 'k'.repeat(255));
      expect(longest.status).toBe(201);
      const spaced = await send(shop, '/api/campaigns', campaignBody, 'a key with spaces ~!@#');
      expect(spaced.status).toBe(201);
    });

    it('a quoted RFC 8941 string and the bare form are the same key', async () => {
      const shop = await createShop(env.db);
      const first = await send(shop, '/api/campaigns', campaignBody, '"order-42"');
      expect(first.status).toBe(201);
      const bare = await send(shop, '/api/campaigns', campaignBody, 'order-42');
      expect(bare.status).toBe(201);
      expect(bare.headers['x-idempotency-replay']).toBe('true');
      expect(bare.body).toEqual(first.body);
      const escaped = await send(shop, '/api/campaigns', campaignBody, '"say \\"hi\\""');
      const escapedBare = await send(shop, '/api/campaigns', campaignBody, 'say "hi"');
      expect(escapedBare.headers['x-idempotency-replay']).toBe('true');
      expect(escapedBare.body.id).toBe(escaped.body.id);
      expect(await countCampaigns(shop.id)).toBe(2);
      expect((await keyRows(shop.id)).map((k) => k.key)).toEqual(['order-42', 'say "hi"']);
    });
  });

  describe('first execution and replay', () => {
    it('stores a 2xx and replays status, body and Location without executing again', async () => {
      const shop = await createShop(env.db);
      const [storedBefore, replayedBefore] = [await outcome('stored'), await outcome('replayed')];
      const first = await send(shop, '/api/campaigns', campaignBody, 'create-1');
      expect(first.status).toBe(201);
      expect(first.headers['x-idempotency-stored']).toBe('true');
      expect(first.headers['x-idempotency-replay']).toBeUndefined();
      const replay = await send(shop, '/api/campaigns', campaignBody, 'create-1');
      expect(replay.status).toBe(201);
      expect(replay.text).toBe(first.text);
      expect(replay.headers.location).toBe(first.headers.location);
      expect(replay.headers['content-type']).toBe(first.headers['content-type']);
      expect(replay.headers['x-idempotency-replay']).toBe('true');
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.headers['x-idempotency-stored']).toBeUndefined();
      expect(replay.headers['x-request-id']).not.toBe(first.headers['x-request-id']);
      expect(await countCampaigns(shop.id)).toBe(1);
      expect(await outcome('stored')).toBe(storedBefore + 1);
      expect(await outcome('replayed')).toBe(replayedBefore + 1);
    });

    it('reordered JSON keys are the same request: replay, not 422', async () => {
      const shop = await createShop(env.db);
      const a = await send(shop, '/api/campaigns', '{"name":"N","body":"B","audience":{"tags":["x"]}}', 'order');
      const b = await send(shop, '/api/campaigns', '{"audience":{"tags":["x"]},"body":"B","name":"N"}', 'order');
      expect(a.status).toBe(201);
      expect(b.status).toBe(201);
      expect(b.headers['x-idempotency-replay']).toBe('true');
      expect(await countCampaigns(shop.id)).toBe(1);
    });

    it('the same key with a different body or route params is 422 IDEMPOTENCY_KEY_REUSED and executes nothing', async () => {
      const shop = await createShop(env.db, { credits: 100 });
      await createContact(env.db, shop.id);
      const before = await outcome('reused');
      expect((await send(shop, '/api/campaigns', campaignBody, 'k1')).status).toBe(201);
      const other = await send(shop, '/api/campaigns', { ...campaignBody, name: 'Other' }, 'k1');
      expect(other.status).toBe(422);
      expect(other.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
      expect(await countCampaigns(shop.id)).toBe(1);

      const [c1, c2] = [await createCampaign(env.db, shop.id), await createCampaign(env.db, shop.id)];
      expect((await send(shop, `/api/campaigns/${c1.id}/enqueue`, {}, 'launch')).status).toBe(202);
      const wrongCampaign = await send(shop, `/api/campaigns/${c2.id}/enqueue`, {}, 'launch');
      expect(wrongCampaign.status).toBe(422);
      expect(await outboxCount(c2.id)).toBe(0);
      const [row] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaigns WHERE id = ${c2.id}::uuid`;
      expect(row!.status).toBe('draft');
      expect(await outcome('reused')).toBe(before + 2);
    });

    it('the same key on another shop or another route is a different key', async () => {
      const [a, b] = [await createShop(env.db, { credits: 10 }), await createShop(env.db)];
      await createContact(env.db, a.id);
      const ra = await send(a, '/api/campaigns', campaignBody, 'shared');
      const rb = await send(b, '/api/campaigns', campaignBody, 'shared');
      expect([ra.status, rb.status]).toEqual([201, 201]);
      expect(rb.headers['x-idempotency-stored']).toBe('true');
      expect(rb.body.id).not.toBe(ra.body.id);
      const enq = await send(a, `/api/campaigns/${ra.body.id}/enqueue`, {}, 'shared');
      expect(enq.status).toBe(202);
      expect(enq.headers['x-idempotency-stored']).toBe('true');
      expect((await keyRows(a.id)).map((k) => k.route)).toEqual(['/api/campaigns', '/api/campaigns/:id/enqueue']);
    });
  });

  describe('failures', () => {
    it('a 4xx outcome marks the key failed (kept 1 day) and a retry with the same key executes again', async () => {
      const shop = await createShop(env.db, { credits: 10 });
      await createContact(env.db, shop.id);
      const c = await createCampaign(env.db, shop.id, { status: 'completed' });
      const before = await outcome('failed');
      const res = await send(shop, `/api/campaigns/${c.id}/enqueue`, {}, 'retry-me');
      expect(res.status).toBe(409);
      const [failed] = await keyRows(shop.id);
      expect(failed).toMatchObject({ status: 'failed', response_status: 409, fence: 1 });
      expect(failed!.ttl_ms).toBeCloseTo(deps.config.IDEMPOTENCY_FAILED_TTL_MS, -3);
      expect(await outcome('failed')).toBe(before + 1);

      await env.db.$executeRaw`UPDATE campaigns SET status = 'draft' WHERE id = ${c.id}::uuid`;
      const retry = await send(shop, `/api/campaigns/${c.id}/enqueue`, {}, 'retry-me');
      expect(retry.status).toBe(202);
      expect(retry.headers['x-idempotency-stored']).toBe('true');
      const [done] = await keyRows(shop.id);
      expect(done).toMatchObject({ status: 'completed', response_status: 202, fence: 2 });
      expect(done!.ttl_ms).toBeCloseTo(deps.config.IDEMPOTENCY_COMPLETED_TTL_MS, -3);
      expect(await outboxCount(c.id)).toBe(1);
    });

    it('a request that fails its schema never touches the key table', async () => {
      const shop = await createShop(env.db);
      const bad = await send(shop, '/api/campaigns', { name: 'x', body: '{{nope}}' }, 'schema');
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('VALIDATION_FAILED');
      expect(await keyRows(shop.id)).toEqual([]);
      const good = await send(shop, '/api/campaigns', campaignBody, 'schema');
      expect(good.status).toBe(201);
      expect(good.headers['x-idempotency-stored']).toBe('true');
    });
  });

  describe('concurrency and leases', () => {
    it('50 concurrent enqueues with one key execute exactly once; the rest are 409 or a replay', async () => {
      const shop = await createShop(env.db, { credits: 1000 });
      for (let i = 0; i < 3; i++) await createContact(env.db, shop.id);
      const c = await createCampaign(env.db, shop.id);
      const token = await auth(shop);
      const responses = await Promise.all(
        Array.from({ length: 50 }, () =>
          request(app).post(`/api/campaigns/${c.id}/enqueue`).set('Authorization', token).set('Idempotency-Key', 'burst').send({}),
        ),
      );
      const statuses = responses.map((r) => r.status);
      expect(statuses.every((s) => s === 202 || s === 409)).toBe(true);
      const stored = responses.filter((r) => r.headers['x-idempotency-stored'] === 'true');
      expect(stored).toHaveLength(1);
      for (const r of responses.filter((x) => x.status === 202)) expect(r.text).toBe(stored[0]!.text);
      for (const r of responses.filter((x) => x.status === 409)) {
        expect(r.body.error.code).toBe('REQUEST_IN_PROGRESS');
        expect(r.headers['retry-after']).toBe('1');
      }
      expect(await outboxCount(c.id)).toBe(1);
      const [res] = await env.db.$queryRaw<{ n: bigint; reserved: bigint }[]>`
        SELECT (SELECT count(*) FROM credit_reservations WHERE campaign_id = ${c.id}::uuid) AS n,
               (SELECT reserved FROM credit_wallets WHERE shop_id = ${shop.id}::uuid) AS reserved`;
      expect(res).toEqual({ n: 1n, reserved: 3n });
    });

    it('50 concurrent creates with one key make exactly one campaign', async () => {
      const shop = await createShop(env.db);
      const token = await auth(shop);
      const responses = await Promise.all(
        Array.from({ length: 50 }, () => request(app).post('/api/campaigns').set('Authorization', token).set('Idempotency-Key', 'burst').send(campaignBody)),
      );
      expect(responses.every((r) => r.status === 201 || r.status === 409)).toBe(true);
      expect(new Set(responses.filter((r) => r.status === 201).map((r) => r.body.id)).size).toBe(1);
      expect(await countCampaigns(shop.id)).toBe(1);
    });

    it('a create whose response could not be recorded is not acknowledged, so a retry with its key makes one campaign, not two', async () => {
      // The campaign committed, then the statement storing its response failed
      // (a lost connection, a crash between the two): the client was told 201,
      // the key stayed in progress, and once its lease ran out the retry of
      // that very request created a second campaign.
      const shop = await createShop(env.db);
      const key = `lost-ack-${randomUUID()}`;
      await env.db.$executeRawUnsafe(`
        CREATE FUNCTION refuse_completion() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.status = 'completed' AND NEW.key = '${key}' THEN RAISE EXCEPTION 'completion lost'; END IF;
          RETURN NEW;
        END $$`);
      await env.db.$executeRawUnsafe(`CREATE TRIGGER refuse_completion BEFORE UPDATE ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION refuse_completion()`);
      let first: request.Response;
      try {
        first = await request(app).post('/api/campaigns').set('Authorization', await auth(shop)).set('Idempotency-Key', key).send(campaignBody);
      } finally {
        await env.db.$executeRawUnsafe(`DROP TRIGGER refuse_completion ON idempotency_keys`);
        await env.db.$executeRawUnsafe(`DROP FUNCTION refuse_completion()`);
      }
      // Whatever the first attempt answered, its key's lease runs out and the client retries.
      await env.db.$executeRaw`UPDATE idempotency_keys SET locked_until = now() - interval '1 second' WHERE shop_id = ${shop.id}::uuid AND key = ${key}`;
      const retry = await request(app).post('/api/campaigns').set('Authorization', await auth(shop)).set('Idempotency-Key', key).send(campaignBody);
      expect(retry.status).toBe(201);
      expect(await countCampaigns(shop.id)).toBe(1);
      if (first.status === 201) expect(retry.body.id).toBe(first.body.id);
      const replay = await request(app).post('/api/campaigns').set('Authorization', await auth(shop)).set('Idempotency-Key', key).send(campaignBody);
      expect([replay.status, replay.headers['x-idempotency-replay'], replay.headers.location, replay.text]).toEqual([201, 'true', retry.headers.location, retry.text]);
    });

    it('a key still executing within its lease answers 409 REQUEST_IN_PROGRESS with Retry-After: 1', async () => {
      const shop = await createShop(env.db);
      const c = await createCampaign(env.db, shop.id);
      const fingerprint = requestFingerprint({ params: { id: c.id }, body: {} });
      await env.db.$executeRaw`
        INSERT INTO idempotency_keys (shop_id, method, route, key, fingerprint, locked_until, expires_at)
        VALUES (${shop.id}::uuid, 'POST', '/api/campaigns/:id/enqueue', 'busy', ${fingerprint}, now() + interval '1 minute', now() + interval '1 day')`;
      const before = await outcome('in_progress');
      const res = await send(shop, `/api/campaigns/${c.id}/enqueue`, {}, 'busy');
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe('REQUEST_IN_PROGRESS');
      expect(res.headers['retry-after']).toBe('1');
      expect(await outboxCount(c.id)).toBe(0);
      expect(await outcome('in_progress')).toBe(before + 1);
    });

    it('after a crash mid-request the lease runs out, a retry executes once, and the late original cannot write', async () => {
      const shop = await createShop(env.db, { credits: 100 });
      for (let i = 0; i < 2; i++) await createContact(env.db, shop.id);
      const c = await createCampaign(env.db, shop.id);
      // The crashed original: claimed (fence 1), lease long gone, never finished.
      const fingerprint = requestFingerprint({ params: { id: c.id }, body: {} });
      const [orig] = await env.db.$queryRaw<{ id: string }[]>`
        INSERT INTO idempotency_keys (shop_id, method, route, key, fingerprint, locked_until, expires_at)
        VALUES (${shop.id}::uuid, 'POST', '/api/campaigns/:id/enqueue', 'crashy', ${fingerprint}, now() - interval '1 second', now() + interval '1 day')
        RETURNING id`;
      const before = await outcome('takeover');

      const retry = await send(shop, `/api/campaigns/${c.id}/enqueue`, {}, 'crashy');
      expect(retry.status).toBe(202);
      expect(retry.headers['x-idempotency-stored']).toBe('true');
      expect(await outcome('takeover')).toBe(before + 1);
      expect((await keyRows(shop.id))[0]).toMatchObject({ status: 'completed', fence: 2 });

      // The original wakes up: its fenced business write rolls back, its completion stores nothing.
      await env.db.$executeRaw`UPDATE campaigns SET status = 'draft' WHERE id = ${c.id}::uuid`; // even if the state would allow it
      const late = enqueueCampaign(deps, { shopId: shop.id, campaignId: c.id, guard: fencedGuard({ id: orig!.id, fence: 1 }, { leaseMs: 60_000, completedTtlMs: 60_000 }), traceId: 'late', now: new Date(), responseStatus: 202 });
      await expect(late).rejects.toMatchObject({ code: 'REQUEST_IN_PROGRESS' });
      const [row] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM campaigns WHERE id = ${c.id}::uuid`;
      expect(row!.status).toBe('draft');
      expect(await outboxCount(c.id)).toBe(1);
      const overwrite = await completeIdempotencyKey(env.db, { id: orig!.id, fence: 1 }, { status: 200, body: '{"late":true}', headers: {} }, 60_000);
      expect(overwrite).toBe(false);
      const replay = await send(shop, `/api/campaigns/${c.id}/enqueue`, {}, 'crashy');
      expect(replay.headers['x-idempotency-replay']).toBe('true');
      expect(replay.text).toBe(retry.text);
    });

    it('a hanging handler taken over after its lease: the retry executes, the original\'s fenced write rolls back', async () => {
      const shop = await createShop(env.db);
      const marker = `side-effect-${randomUUID()}`;
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let entered!: () => void;
      const enteredFirst = new Promise<void>((r) => (entered = r));
      let calls = 0;
      const testApp = harnessApp(deps, shop.id, { required: true }, async (_req, res) => {
        calls++;
        if (calls === 1) {
          entered();
          await gate;
        }
        await deps.db.$transaction(async (tx) => {
          await idempotencyGuardOf(res).assertHeld(tx);
          await tx.$executeRaw`INSERT INTO outbox_events (event_type, aggregate_id, payload) VALUES ('test.side-effect.v1', ${marker}, '{}')`;
        });
        res.status(201).json({ call: calls });
      });

      const original = request(testApp).post('/api/things/7').set('Idempotency-Key', 'hang').send({ a: 1 });
      const originalDone = original.then((r) => r);
      await enteredFirst;
      // The lease of the hanging request runs out.
      await env.db.$executeRaw`UPDATE idempotency_keys SET locked_until = now() - interval '1 second' WHERE shop_id = ${shop.id}::uuid AND key = 'hang'`;
      const retry = await request(testApp).post('/api/things/7').set('Idempotency-Key', 'hang').send({ a: 1 });
      expect(retry.status).toBe(201);
      expect(retry.body).toEqual({ call: 2 });
      expect(retry.headers['x-idempotency-stored']).toBe('true');

      release();
      const late = await originalDone;
      expect(late.status).toBe(409);
      expect(late.body.error.code).toBe('REQUEST_IN_PROGRESS');
      expect(await outboxCount(marker)).toBe(1);
      const [key] = await keyRows(shop.id);
      expect(key).toMatchObject({ route: '/api/things/:id', status: 'completed', fence: 2, response_status: 201 });
      const replay = await request(testApp).post('/api/things/7').set('Idempotency-Key', 'hang').send({ a: 1 });
      expect(replay.body).toEqual({ call: 2 });
      expect(calls).toBe(2);
    });
  });

  it('with Postgres down the request is 503 DEPENDENCY_UNAVAILABLE and never executes', async () => {
    const shop = await createShop(env.db);
    const deadDb = createDb({ ...env.config, DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/nowhere' });
    let executed = 0;
    const testApp = harnessApp({ ...deps, db: deadDb }, shop.id, { required: false }, (_req, res) => {
      executed++;
      res.status(201).json({});
    });
    const res = await request(testApp).post('/api/things/1').set('Idempotency-Key', 'k').send({});
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('DEPENDENCY_UNAVAILABLE');
    expect(executed).toBe(0);
    await deadDb.$disconnect();
    // The whole API behaves the same: no shop, no key, no execution.
    const { app: deadApp } = await env.api({ db: createDb({ ...env.config, DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/nowhere' }) });
    const whole = await request(deadApp).post('/api/campaigns').set('Authorization', await auth(shop)).set('Idempotency-Key', 'k').send(campaignBody);
    expect(whole.status).toBe(503);
    expect(whole.body.error.code).toBe('DEPENDENCY_UNAVAILABLE');
    expect(await countCampaigns(shop.id)).toBe(0);
  });

  it('every POST, PATCH and DELETE route under /api honours Idempotency-Key; enqueue, cancel, checkout and import require it', () => {
    const REQUIRED = ['POST /api/campaigns/:id/enqueue', 'POST /api/campaigns/:id/cancel', 'POST /api/billing/checkout', 'POST /api/contacts/import', 'POST /api/flows/:id/activate', 'POST /api/flows/:id/pause', 'POST /api/flows/:id/test'];
    const seen: Record<string, IdempotencyOptions | undefined> = {};
    for (const router of apiRouters(deps) as (Router & { stack: RouteLayer[] })[]) {
      for (const layer of router.stack) {
        if (!layer.route) continue;
        for (const method of Object.keys(layer.route.methods).filter((m) => ['post', 'patch', 'delete', 'put'].includes(m))) {
          const marked = layer.route.stack.map((l) => (l.handle as unknown as Record<symbol, IdempotencyOptions | undefined>)[IDEMPOTENCY_MIDDLEWARE]).find(Boolean);
          seen[`${method.toUpperCase()} /api${layer.route.path}`] = marked;
        }
      }
    }
    expect(Object.keys(seen)).toEqual(expect.arrayContaining(['POST /api/campaigns', 'PATCH /api/campaigns/:id', 'POST /api/campaigns/:id/enqueue']));
    for (const [route, opts] of Object.entries(seen)) {
      expect({ route, idempotency: opts }).toEqual({ route, idempotency: { required: REQUIRED.includes(route) } });
    }
  });
});

interface RouteLayer {
  route?: { path: string; methods: Record<string, boolean>; stack: { handle: unknown }[] };
}

/** The real middleware (validation, idempotency, error handler) in front of a test handler, for a known shop. */
function harnessApp(deps: ApiDeps, shopId: string, opts: IdempotencyOptions, handler: express.RequestHandler): Express {
  const app = express();
  app.use(requestContext());
  app.use(...jsonBody(MiB));
  app.use((_req, res, next) => {
    res.locals.shopId = shopId;
    next();
  });
  app.post(
    '/api/things/:id',
    ...validated({ body: z.object({}).passthrough(), use: [idempotency(deps, opts)] }, async (_input, req, res) => {
      await handler(req, res, () => undefined);
    }),
  );
  app.use(errorHandler(deps.logger));
  recordRouteTemplates(app);
  return app;
}
