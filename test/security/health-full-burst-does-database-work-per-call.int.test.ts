import request from 'supertest';
import { createTestEnv, type TestEnv } from '../harness';

// Attack: hammer the unauthenticated GET /health/full. Each call ran SELECT 1,
// a Redis PING, the job counts of every queue and the migrations query, so a
// burst of N calls did N times that work against the shared Postgres and
// Redis. Closed: the report is computed at most once a second (concurrent
// calls share the one in flight), whatever the number of calls.

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});

it('a burst of calls does the database and Redis work once per second', async () => {
  let clock = Date.parse('2026-12-04T06:00:00.000Z');
  const { app, deps } = await env.api({ now: () => new Date(clock) });
  const selects = jest.spyOn(deps.db, '$queryRaw');
  const migrationQueries = jest.spyOn(deps.db, '$queryRawUnsafe');
  const pings = jest.spyOn(deps.redis, 'ping');

  const burst = await Promise.all(Array.from({ length: 25 }, () => request(app).get('/health/full')));
  clock += 500;
  for (let i = 0; i < 10; i++) burst.push(await request(app).get('/health/full'));
  expect(burst.map((r) => r.status)).toEqual(Array(35).fill(200));
  expect(burst.every((r) => r.body.status === 'ok')).toBe(true);
  expect(pings).toHaveBeenCalledTimes(1);
  expect(selects).toHaveBeenCalledTimes(1);
  expect(migrationQueries.mock.calls.length).toBeLessThanOrEqual(2);
  const perReport = migrationQueries.mock.calls.length;

  clock += 500; // a second after the first report: the next call checks again
  const fresh = await request(app).get('/health/full');
  expect(fresh.status).toBe(200);
  expect(pings).toHaveBeenCalledTimes(2);
  expect(selects).toHaveBeenCalledTimes(2);
  expect(migrationQueries).toHaveBeenCalledTimes(perReport * 2);
});
