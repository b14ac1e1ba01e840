import { spawnSync } from 'node:child_process';
import request from 'supertest';
import { createTestEnv, type TestEnv } from '../../../test/harness';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv();
});
afterAll(async () => {
  await env.close();
});

const promtool = spawnSync('promtool', ['--version']).status === 0;

describe('GET /metrics', () => {
  it('serves the catalogue in Prometheus text format that promtool accepts', async () => {
    const { app } = await env.api();
    await request(app).get('/health');
    await request(app).get('/nope');
    const res = await request(app).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    for (const name of ['http_requests_total', 'http_request_duration_seconds', 'queue_jobs', 'process_cpu_seconds_total', 'campaigns_stuck', 'credit_ledger_mismatches', 'outbox_pending']) {
      expect(res.text).toContain(`# TYPE ${name} `);
    }
    // Route templates, never raw paths, as labels.
    expect(res.text).toMatch(/http_requests_total\{method="GET",route="\/health",status="200"\} [1-9]/);
    expect(res.text).toMatch(/http_requests_total\{method="GET",route="unmatched",status="404"\} 1/);
    // Queue depths are read at scrape time.
    expect(res.text).toMatch(/queue_jobs\{queue="campaigns",state="waiting"\} 0/);

    // The CI script installs promtool (Debian's prometheus); without it this check cannot run.
    expect(promtool).toBe(true);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: res.text, encoding: 'utf8' });
    expect(check.stderr + check.stdout).not.toMatch(/error/i);
    expect(check.status).toBe(0);
  });

  it('requires the bearer token when METRICS_TOKEN is set', async () => {
    const { app } = await env.api({ config: { ...env.config, METRICS_TOKEN: 'scrape-secret' } });
    expect((await request(app).get('/metrics')).status).toBe(401);
    expect((await request(app).get('/metrics').set('Authorization', 'Bearer wrong')).status).toBe(401);
    const ok = await request(app).get('/metrics').set('Authorization', 'Bearer scrape-secret');
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('http_requests_total');
  });
});
