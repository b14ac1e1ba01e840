import request from 'supertest';
import { createTestEnv, type TestEnv } from '../../../test/harness';
import { createShop } from '../../../test/factories';
import { createOpsApp } from './ops-server';
import { keepSchedulers, upsertSchedulers } from './schedulers';
import { SCHEDULER_IDS } from '../../../queue/job-ids';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});

async function waitFor<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('runs jobs through real BullMQ workers, times them, and serves /health and /metrics', async () => {
  const { host, deps } = await env.worker({ queues: ['maintenance'] });
  const shop = await createShop(env.db);
  // Expired keys (past retention) and a live one.
  await env.db.$executeRaw`
    INSERT INTO idempotency_keys (shop_id, method, route, key, fingerprint, status, response_status, locked_until, expires_at)
    SELECT ${shop.id}::uuid, 'POST', '/api/x', 'old-' || g, 'f', 'completed', 200, now(), now() - interval '1 minute' FROM generate_series(1, 25) g`;
  await env.db.$executeRaw`
    INSERT INTO idempotency_keys (shop_id, method, route, key, fingerprint, status, response_status, locked_until, expires_at)
    VALUES (${shop.id}::uuid, 'POST', '/api/x', 'live', 'f', 'completed', 200, now(), now() + interval '1 day')`;

  await deps.producer.add('idempotency.cleanup.v1', { traceId: 'trace-cleanup' }, { jobId: 'cleanup-test' });
  const left = await waitFor(
    async () => (await env.db.$queryRaw<{ key: string }[]>`SELECT key FROM idempotency_keys`).map((r) => r.key),
    (keys) => keys.length === 1,
  );
  expect(left).toEqual(['live']);

  const ops = createOpsApp(deps, () => host);
  const health = await request(ops).get('/health');
  expect(health.status).toBe(200);
  expect(health.body.workers).toEqual([{ queue: 'maintenance', running: true }]);
  const metrics = await waitFor(async () => (await request(ops).get('/metrics')).text, (t) => /job_duration_seconds_count\{[^}]*job="idempotency.cleanup.v1"[^}]*\} 1/.test(t));
  expect(metrics).toMatch(/job_duration_seconds_count\{queue="maintenance",job="idempotency.cleanup.v1",outcome="completed"\} 1/);
});

it('with METRICS_TOKEN set, the worker serves /metrics only to a scraper that sends it (401 in the error shape otherwise)', async () => {
  const deps = env.workerDeps();
  const ops = createOpsApp({ ...deps, config: { ...deps.config, METRICS_TOKEN: 'scrape-secret' } }, () => undefined);
  for (const auth of [undefined, 'Bearer wrong', 'Bearer scrape-secret-but-longer']) {
    const res = auth ? await request(ops).get('/metrics').set('authorization', auth) : await request(ops).get('/metrics');
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: { code: 'UNAUTHENTICATED', message: 'Metrics token required' } });
  }
  const ok = await request(ops).get('/metrics').set('authorization', 'Bearer scrape-secret');
  expect(ok.status).toBe(200);
  expect(ok.text).toMatch(/^# HELP /m);
});

it('upserting the job schedulers twice (two workers, a redeploy) leaves one scheduler per id', async () => {
  const deps = env.workerDeps();
  await upsertSchedulers(deps.queues, env.config);
  await upsertSchedulers(deps.queues, env.config);
  const schedulers = await deps.queues.get('maintenance').getJobSchedulers();
  const ids = schedulers.map((s) => s.key).sort();
  expect(ids).toEqual([SCHEDULER_IDS.idempotencyCleanup, SCHEDULER_IDS.outbox, SCHEDULER_IDS.reconcile].sort());
});

it('the schedulers come back by themselves after Redis reconnects without them (a restart that lost its data)', async () => {
  const deps = env.workerDeps();
  const stop = await keepSchedulers(deps, env.config);
  const maintenance = deps.queues.get('maintenance');
  const ids = [SCHEDULER_IDS.idempotencyCleanup, SCHEDULER_IDS.outbox, SCHEDULER_IDS.reconcile].sort();
  // What an empty Redis looks like to this prefix: no schedulers at all.
  for (const id of ids) await maintenance.removeJobScheduler(id);
  expect(await maintenance.getJobSchedulers()).toEqual([]);
  deps.redis.disconnect(true);
  const keys = await waitFor(async () => (await maintenance.getJobSchedulers()).map((j) => j.key).sort(), (k) => k.length === ids.length);
  expect(keys).toEqual(ids);
  stop();
});

it('the outbox dispatcher marks notification-only events published and leaves events it cannot route pending', async () => {
  const deps = env.workerDeps();
  const { dispatchOutbox } = await import('../../../domain/outbox/outbox');
  await env.db.$executeRaw`INSERT INTO outbox_events (event_type, aggregate_id, payload) VALUES ('campaign.completed.v1', 'c-1', '{}'::jsonb), ('future.thing.v1', 'x', '{}'::jsonb)`;
  const published = await dispatchOutbox(env.db, deps.producer);
  expect(published).toBe(1);
  const rows = await env.db.$queryRaw<{ event_type: string; published: boolean }[]>`
    SELECT event_type, published_at IS NOT NULL AS published FROM outbox_events ORDER BY id`;
  expect(rows).toEqual([
    { event_type: 'campaign.completed.v1', published: true },
    { event_type: 'future.thing.v1', published: false },
  ]);
  expect(await dispatchOutbox(env.db, deps.producer)).toBe(0);
});
