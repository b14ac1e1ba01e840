import express from 'express';
import pino from 'pino';
import request from 'supertest';
import { LogCapture } from '../../../../test/harness';
import { httpLogger } from './http-logger';

// Webhook routes are summarised per route and interval (one line: count,
// status classes, p50/p99); their errors are still logged one by one; every
// other route keeps one line per request.
describe('httpLogger', () => {
  function app() {
    const logs = new LogCapture();
    const logger = pino({ level: 'info' }, logs);
    // A long interval: the test flushes by hand.
    const log = httpLogger(logger, { summaryIntervalMs: 60_000 });
    const a = express();
    a.use((_req, res, next) => {
      res.setHeader('X-Request-Id', 'req-1');
      next();
    });
    a.use(log);
    a.post('/webhooks/sms/:provider/status', (req, res) => {
      res.status(req.params.provider === 'simulator' ? 200 : 401).json({});
    });
    a.post('/webhooks/stripe', (_req, res) => {
      res.status(500).json({});
    });
    a.get('/api/thing', (_req, res) => {
      res.json({ ok: true });
    });
    const lines = () => logs.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    return { a, log, lines };
  }

  it('writes one summary line per webhook route instead of a line per request, and logs each error on its own', async () => {
    const { a, log, lines } = app();
    for (let i = 0; i < 5; i++) await request(a).post('/webhooks/sms/simulator/status?token=s3cret').send({}).expect(200);
    await request(a).post('/webhooks/sms/mitto/status?token=wrong-secret').send({}).expect(401);
    await request(a).post('/webhooks/stripe').send({}).expect(500);

    // Nothing per request for the five answered 200.
    const before = lines();
    expect(before.filter((l) => l.msg === 'request summary')).toEqual([]);
    const errors = before.filter((l) => l.msg === 'request completed');
    expect(errors).toEqual([
      expect.objectContaining({ level: 40, req: { method: 'POST', url: '/webhooks/sms/mitto/status', id: 'req-1' }, res: { statusCode: 401 } }),
      expect.objectContaining({ level: 50, req: { method: 'POST', url: '/webhooks/stripe', id: 'req-1' }, res: { statusCode: 500 } }),
    ]);

    log.flushSummaries();
    const summaries = lines().filter((l) => l.msg === 'request summary');
    expect(summaries).toHaveLength(3);
    const byRoute = new Map(summaries.map((s) => [s.route, s]));
    expect(byRoute.get('/webhooks/sms/simulator/status')).toMatchObject({ level: 30, requests: 5, status: { '2xx': 5 } });
    expect(byRoute.get('/webhooks/sms/mitto/status')).toMatchObject({ requests: 1, status: { '4xx': 1 } });
    expect(byRoute.get('/webhooks/stripe')).toMatchObject({ requests: 1, status: { '5xx': 1 } });
    const sim = byRoute.get('/webhooks/sms/simulator/status') as { p50Ms: number; p99Ms: number; maxMs: number };
    expect(sim.p50Ms).toBeLessThanOrEqual(sim.p99Ms);
    expect(sim.p99Ms).toBeLessThanOrEqual(sim.maxMs);
    // The callback URL's secret is in no line.
    expect(JSON.stringify(lines())).not.toMatch(/s3cret|wrong-secret/);

    // The next interval starts empty: nothing to write.
    log.flushSummaries();
    expect(lines().filter((l) => l.msg === 'request summary')).toHaveLength(3);
  });

  it('keeps one line per request everywhere else', async () => {
    const { a, log, lines } = app();
    await request(a).get('/api/thing?x=1').expect(200);
    await request(a).get('/api/thing').expect(200);
    log.flushSummaries();
    const all = lines();
    expect(all.filter((l) => l.msg === 'request summary')).toEqual([]);
    expect(all.filter((l) => l.msg === 'request completed')).toEqual([
      expect.objectContaining({ level: 30, req: { method: 'GET', url: '/api/thing', id: 'req-1' }, res: { statusCode: 200 } }),
      expect.objectContaining({ level: 30, req: { method: 'GET', url: '/api/thing', id: 'req-1' }, res: { statusCode: 200 } }),
    ]);
  });

  it('bounds the routes of one interval: a flood of odd paths shares one line', async () => {
    const { a, log, lines } = app();
    for (let i = 0; i < 40; i++) await request(a).post(`/webhooks/nothing-${i}`).send({}).expect(404);
    log.flushSummaries();
    const summaries = lines().filter((l) => l.msg === 'request summary');
    expect(summaries).toHaveLength(33);
    expect(summaries.find((s) => s.route === '(other)')).toMatchObject({ requests: 8, status: { '4xx': 8 } });
  });
});
