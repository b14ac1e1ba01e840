import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createTestEnv, type TestEnv } from '../harness';
import { createShop } from '../factories';
import { routeTable } from '../route-table';
import { sessionToken } from '../session-token';

// The attack: respell paths to grow /metrics. The `route` label of the HTTP
// metrics was `req.baseUrl` (the mount path as sent) plus the route template,
// so every spelling of `/api` made new series. Now a respelled path matches
// nothing and every request is labelled with a route template of the app or
// the one label `unmatched`.

describe('path case variants do not grow the metrics label set', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv();
  });
  afterAll(async () => {
    await env.close();
  });

  it('http_requests_total is labelled only with route templates and "unmatched"', async () => {
    const { app, deps } = await env.api();
    const shop = await createShop(env.db);
    const auth = `Bearer ${await sessionToken(shop.domain)}`;
    const id = randomUUID();
    const paths = [
      '/api/campaigns',
      `/api/campaigns/${id}`,
      '/API/campaigns',
      '/Api/Campaigns',
      '/api/campaigns/',
      `/API/campaigns/${id}`,
      `/api/CAMPAIGNS/${id}`,
      '/api/Shop',
      '/Health',
      '/health/',
      `/nothing/${id}`,
    ];
    for (const path of paths) await request(app).get(path).set('Authorization', auth);
    await request(app).post('/Webhooks/stripe').send({});
    await request(app).post('/webhooks/Stripe').send({});

    const templates = new Set(routeTable(app).map((r) => r.path));
    const labels = new Set((await deps.metrics.httpRequests.get()).values.map((v) => String(v.labels.route)));
    expect([...labels].filter((l) => l !== 'unmatched' && !templates.has(l))).toEqual([]);
    // The requests that did match (a list, and an id answered 404 by its handler) carry their full template.
    expect([...labels].sort()).toEqual(['/api/campaigns', '/api/campaigns/:id', 'unmatched']);
  });
});
