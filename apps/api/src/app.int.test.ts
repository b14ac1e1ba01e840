import { randomUUID } from 'node:crypto';
import request from 'supertest';
import express from 'express';
import { createTestEnv, type TestEnv } from '../../../test/harness';
import { AppError } from '../../../lib/errors';
import { ensureJob } from '../../../queue/ensure-job';
import { jobIds } from '../../../queue/job-ids';
import { HEALTH_REPORT_TTL_MS } from './health';
import { createShop } from '../../../test/factories';
import { sessionToken } from '../../../test/session-token';
import { errorHandler } from './middleware/error-handler';
import { requestContext } from './middleware/request-context';

describe('api skeleton', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => {
    await env.close();
  });

  it('GET /health answers ok with a request id', async () => {
    const { app } = await env.api();
    const res = await request(app).get('/health');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('echoes a sane client X-Request-Id and replaces an unsafe one', async () => {
    const { app } = await env.api();
    const ok = await request(app).get('/health').set('X-Request-Id', 'client-trace-1');
    expect(ok.headers['x-request-id']).toBe('client-trace-1');
    const bad = await request(app).get('/health').set('X-Request-Id', 'bad id with spaces');
    expect(bad.headers['x-request-id']).not.toBe('bad id with spaces');
  });

  it('unknown routes answer 404 NOT_FOUND in the error shape', async () => {
    const { app } = await env.api();
    const res = await request(app).get('/nope').set('X-Request-Id', 'r-404');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'NOT_FOUND', message: 'Route not found', requestId: 'r-404' } });
  });

  it('GET /health/full reports every check as ok', async () => {
    const { app } = await env.api();
    const res = await request(app).get('/health/full');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
    for (const name of ['database', 'redis', 'queues', 'migrations']) {
      expect(res.body.checks[name].status).toBe('ok');
      expect(typeof res.body.checks[name].latencyMs).toBe('number');
    }
    expect(res.body.checks.queues.counts.campaigns).toEqual({ waiting: 0, prioritized: 0, active: 0, delayed: 0, failed: 0 });
  });

  it('GET /health/full counts a backlog of prioritized batch jobs (fair sharing) as queued work', async () => {
    const { app, deps } = await env.api();
    const campaignId = randomUUID();
    for (const batchNo of [0, 1, 2]) {
      await ensureJob(deps.queues, 'campaign.send-batch.v1', jobIds.sendBatch(campaignId, batchNo), { campaignId, shopId: randomUUID(), batchNo, traceId: 't-health' }, { priority: batchNo + 1 });
    }
    // Past the one-second cache of the report.
    await new Promise((r) => setTimeout(r, HEALTH_REPORT_TTL_MS + 50));
    const res = await request(app).get('/health/full');
    expect(res.body.checks.queues.counts.sends).toMatchObject({ waiting: 0, prioritized: 3 });
  });

  it('GET /health/full answers 503 with database down when Postgres is unreachable', async () => {
    const { createDb } = await import('../../../lib/db');
    const deadDb = createDb({ ...env.config, DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/nowhere' });
    const { app } = await env.api({ db: deadDb });
    const res = await request(app).get('/health/full');
    expect(res.status).toBe(503);
    expect(res.body.status).toBe('down');
    expect(res.body.checks.database.status).toBe('down');
    expect(res.body.checks.redis.status).toBe('ok');
    expect(JSON.stringify(res.body)).not.toMatch(/postgresql:\/\/|ECONNREFUSED/);
  });

  describe('error mapping', () => {
    // The same request-context middleware and error handler as createApp, in
    // front of routes that fail on purpose.
    async function appWith(path: string, handler: express.RequestHandler) {
      const { deps } = await env.api();
      const app = express();
      app.use(requestContext());
      app.get(path, handler);
      app.use(errorHandler(deps.logger));
      return app;
    }

    it('an internal error is 500 INTERNAL with no leak, logged with the request id', async () => {
      const app = await appWith('/boom', () => {
        throw new Error('SELECT secret FROM users -- internal detail');
      });
      const res = await request(app).get('/boom').set('X-Request-Id', 'r-500');
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ error: { code: 'INTERNAL', message: 'Internal error', requestId: 'r-500' } });
      expect(res.text).not.toMatch(/SELECT|stack|at /);
      const logged = env.logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.requestId === 'r-500');
      expect(logged?.level).toBe('error');
    });

    it('an AppError renders its code, status, headers and details', async () => {
      const app = await appWith('/app-error', () => {
        throw new AppError('RATE_LIMITED', 'Slow down', { details: { limiter: 'general' }, headers: { 'Retry-After': '3' } });
      });
      const res = await request(app).get('/app-error');
      expect(res.status).toBe(429);
      expect(res.headers['retry-after']).toBe('3');
      expect(res.body.error).toMatchObject({ code: 'RATE_LIMITED', message: 'Slow down', details: { limiter: 'general' } });
    });

    it('a database outage is 503 DEPENDENCY_UNAVAILABLE, not 500', async () => {
      const app = await appWith('/db-down', () => {
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      });
      const res = await request(app).get('/db-down');
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('DEPENDENCY_UNAVAILABLE');
      expect(res.text).not.toMatch(/ECONNREFUSED|5432/);
    });

    // Bodies are read only once the session token is verified: these requests are authenticated.
    const authed = async () => `Bearer ${await sessionToken((await createShop(env.db)).domain)}`;

    it('invalid JSON is 400 VALIDATION_FAILED', async () => {
      const { app } = await env.api();
      const res = await request(app).post('/api/anything').set('Authorization', await authed()).set('Content-Type', 'application/json').send('{"a":');
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    });

    it('a body over 1 MiB is 413 PAYLOAD_TOO_LARGE', async () => {
      const { app } = await env.api();
      const res = await request(app)
        .post('/api/anything')
        .set('Authorization', await authed())
        .set('Content-Type', 'application/json')
        .send(JSON.stringify({ x: 'a'.repeat(1024 * 1024 + 10) }));
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    });

    it('a non-JSON body is 415 UNSUPPORTED_MEDIA_TYPE', async () => {
      const { app } = await env.api();
      const res = await request(app).post('/api/anything').set('Authorization', await authed()).set('Content-Type', 'text/plain').send('hello');
      expect(res.status).toBe(415);
      expect(res.body.error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    });

    it('without a valid session token the body is not looked at: 401, whatever it is', async () => {
      const { app } = await env.api();
      const res = await request(app).post('/api/anything').set('Content-Type', 'application/json').send('{"a":');
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe('UNAUTHENTICATED');
    });
  });
});
