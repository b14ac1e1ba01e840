import request from 'supertest';
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../harness';
import { createContact, createShop, type ShopFixture } from '../factories';
import { sessionToken } from '../session-token';
import { MAX_TEST_RUNS_IN_FLIGHT, MAX_TEST_RUNS_PER_HOUR } from '../../domain/flows/flow-input';

// The attack: one shop posts test run after test run (POST /api/flows/:id/test),
// each a flow_runs row (and, with a long first wait, one in the due index for
// up to 90 days), growing tables every tenant shares; nothing bounded them but
// the general request budget. A flow has at most 10 test runs in progress
// (409 LIMIT_REACHED) and a shop starts at most 60 an hour (429 RATE_LIMITED,
// Retry-After), counted under locks, so racing requests cannot slip past.

describe('one shop starts flow test runs without bound', () => {
  let env: TestEnv;
  let app: Express;
  beforeAll(async () => {
    env = await createTestEnv({ RATE_LIMIT_GENERAL_PER_MIN: '100000', RATE_LIMIT_CAMPAIGNS_PER_MIN: '100000' });
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;
  // A day's wait first: every run stays in progress.
  const flowBody = { name: 'Welcome', trigger: { type: 'contact_subscribed' }, steps: [{ type: 'wait', duration: { amount: 1, unit: 'days' } }, { type: 'send', body: 'Hi' }] };
  const createFlow = async (shop: ShopFixture): Promise<string> => {
    const r = await request(app).post('/api/flows').set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send(flowBody);
    expect(r.status).toBe(201);
    return r.body.id as string;
  };
  const testRun = async (shop: ShopFixture, flowId: string) =>
    request(app).post(`/api/flows/${flowId}/test`).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID())
      .send({ contactId: (await createContact(env.db, shop.id)).id });
  const testRuns = async (flowId: string): Promise<number> =>
    (await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM flow_runs WHERE flow_id = ${flowId}::uuid AND trigger_type = 'manual'`)[0]!.n;

  it(`a flow's ${MAX_TEST_RUNS_IN_FLIGHT + 1}st test run in progress is 409 LIMIT_REACHED, also when raced for; one that ended frees its place`, async () => {
    const shop = await createShop(env.db);
    const flow = await createFlow(shop);
    for (let i = 0; i < MAX_TEST_RUNS_IN_FLIGHT - 2; i++) expect((await testRun(shop, flow)).status).toBe(201);
    const raced = await Promise.all(Array.from({ length: 5 }, () => testRun(shop, flow)));
    expect(raced.map((r) => r.status).sort()).toEqual([201, 201, 409, 409, 409]);
    expect(raced.find((r) => r.status === 409)!.body.error).toMatchObject({ code: 'LIMIT_REACHED', details: { resource: 'flow_test_runs', limit: MAX_TEST_RUNS_IN_FLIGHT } });
    expect(await testRuns(flow)).toBe(MAX_TEST_RUNS_IN_FLIGHT);
    // Another flow of the shop has its own places.
    expect((await testRun(shop, await createFlow(shop))).status).toBe(201);
    // A test run that ended (completed, exited) is no longer in progress.
    await env.db.$executeRaw`
      UPDATE flow_runs SET status = 'completed', next_due_at = NULL, ended_at = now()
       WHERE id = (SELECT id FROM flow_runs WHERE flow_id = ${flow}::uuid ORDER BY id LIMIT 1)`;
    expect((await testRun(shop, flow)).status).toBe(201);
    expect((await testRun(shop, flow)).status).toBe(409);
  });

  it(`a shop's ${MAX_TEST_RUNS_PER_HOUR + 1}st test run within an hour is 429 RATE_LIMITED with Retry-After; older ones and other shops do not count`, async () => {
    const shop = await createShop(env.db);
    const flow = await createFlow(shop);
    const contact = await createContact(env.db, shop.id);
    // Finished test runs: started 10 minutes ago (all but one of the hour's budget), and more than an hour ago.
    const seed = async (n: number, ago: string) => env.db.$executeRaw`
      INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, status, ended_at, created_at)
      SELECT f.id, f.current_version_id, f.shop_id, ${contact.id}::uuid, 'manual', 'manual:' || gen_random_uuid(), now(), 'completed', now(), now() - ${ago}::interval
        FROM flows f, generate_series(1, ${n}::int) WHERE f.id = ${flow}::uuid`;
    await seed(MAX_TEST_RUNS_PER_HOUR - 1, '10 minutes');
    await seed(200, '61 minutes');
    expect((await testRun(shop, flow)).status).toBe(201);
    const over = await testRun(shop, flow);
    expect(over.status).toBe(429);
    expect(over.body.error).toMatchObject({ code: 'RATE_LIMITED', details: { limiter: 'flow_test_runs' } });
    const retryAfter = Number(over.headers['retry-after']);
    // The oldest of the hour's runs leaves the window in ~50 minutes.
    expect(retryAfter).toBeGreaterThan(49 * 60);
    expect(retryAfter).toBeLessThanOrEqual(50 * 60 + 1);
    expect(over.body.error.details.retryAfterSeconds).toBe(retryAfter);
    expect(await testRuns(flow)).toBe(MAX_TEST_RUNS_PER_HOUR + 200);
    // Any of the shop's flows: the budget is the shop's.
    expect((await testRun(shop, await createFlow(shop))).status).toBe(429);
    // Another shop is unaffected.
    const other = await createShop(env.db);
    expect((await testRun(other, await createFlow(other))).status).toBe(201);
  });
  it(`racing requests on different flows cannot start more than ${MAX_TEST_RUNS_PER_HOUR} test runs within the hour (round after round)`, async () => {
    for (let round = 0; round < 4; round++) {
      const shop = await createShop(env.db);
      // One flow per request: each flow's own lock and in-progress bound do not serialise them, only the shop's hourly count does.
      const flows = await Promise.all(Array.from({ length: 8 }, () => createFlow(shop)));
      const contact = await createContact(env.db, shop.id);
      await env.db.$executeRaw`
        INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, status, ended_at, created_at)
        SELECT f.id, f.current_version_id, f.shop_id, ${contact.id}::uuid, 'manual', 'manual:' || gen_random_uuid(), now(), 'completed', now(), now() - interval '5 minutes'
          FROM flows f, generate_series(1, ${MAX_TEST_RUNS_PER_HOUR - 3}::int) WHERE f.id = ${flows[0]}::uuid`;
      const raced = await Promise.all(flows.map((f) => testRun(shop, f)));
      expect({ round, statuses: raced.map((r) => r.status).sort() }).toEqual({ round, statuses: [201, 201, 201, 429, 429, 429, 429, 429] });
      const [n] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM flow_runs WHERE shop_id = ${shop.id}::uuid AND trigger_type = 'manual'`;
      expect(n!.n).toBe(MAX_TEST_RUNS_PER_HOUR);
    }
  });
});
