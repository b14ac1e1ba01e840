import { freePort } from '../../scripts/lib/stack';
import { productionEnv } from '../../scripts/lib/production-env';
import { portOpen, startService, waitForOk } from '../../scripts/lib/service-process';
import { createTestEnv, type TestEnv } from '../harness';

// Attack: scrape /metrics of a production api and worker with no credentials
// (queue depths, shop counts, error rates: reconnaissance for free). Closed:
// METRICS_TOKEN is required in production, and without `Authorization:
// Bearer <token>` both /metrics answer 401.

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});

const PORT_VAR = { api: 'PORT', worker: 'WORKER_METRICS_PORT' } as const;

describe.each(['api', 'worker'] as const)('%s in production', (name) => {
  const vars = (port: number, extra: Record<string, string> = {}): Record<string, string> =>
    productionEnv({ DATABASE_URL: env.config.DATABASE_URL, REDIS_URL: env.config.REDIS_URL, QUEUE_PREFIX: env.prefix, [PORT_VAR[name]]: String(port), ...extra });

  it('does not start without METRICS_TOKEN (so /metrics is never served open)', async () => {
    const port = await freePort();
    const noToken = vars(port);
    delete noToken.METRICS_TOKEN;
    const svc = startService(name, noToken);
    const outcome = await Promise.race([svc.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 15_000).unref())]);
    if (outcome === 'running') {
      const scraped = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.status, () => 0);
      await svc.stop();
      throw new Error(`${name} started without METRICS_TOKEN; an unauthenticated scrape answered ${scraped}`);
    }
    expect(outcome.code).toBe(1);
    expect(svc.stderr()).toContain('- METRICS_TOKEN: required in production');
    expect(await portOpen(port)).toBe(false);
  }, 30_000);

  it('answers /metrics 401 without the bearer token or with a wrong one, 200 with it', async () => {
    const port = await freePort();
    const e = vars(port);
    const svc = startService(name, e);
    try {
      await waitForOk(svc, `http://127.0.0.1:${port}/health`);
      const url = `http://127.0.0.1:${port}/metrics`;
      const statusWith = async (headers: Record<string, string>): Promise<number> => (await fetch(url, { headers })).status;
      expect(await statusWith({})).toBe(401);
      expect(await statusWith({ authorization: `Bearer ${e.METRICS_TOKEN!.slice(0, -1)}x` })).toBe(401);
      expect(await statusWith({ authorization: e.METRICS_TOKEN! })).toBe(401); // the scheme is part of the contract
      expect(await statusWith({ authorization: `Basic ${Buffer.from(`x:${e.METRICS_TOKEN}`).toString('base64')}` })).toBe(401);
      const ok = await fetch(url, { headers: { authorization: `Bearer ${e.METRICS_TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('process_cpu_seconds_total');
    } finally {
      await svc.stop();
    }
  }, 45_000);
});
