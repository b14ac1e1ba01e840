import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { waitForRedis } from '../../lib/redis';
import { createTestEnv, type TestEnv } from '../harness';
import { createShop, testPhone } from '../factories';
import { routeTable } from '../route-table';
import { sessionToken } from '../session-token';

// The attack: respell a path. Express matched routes case-insensitively and
// ignored a trailing slash, while the rate-limit group was chosen from the
// path as sent, so `/api/Contacts/Import` reached the import handler on the
// general budget after the imports budget was spent. Now routing is exact
// (case-sensitive, strict): another spelling of a route is no route at all.

describe('path case variants do not escape a rate limit', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ RATE_LIMIT_IMPORTS_PER_MIN: '2', RATE_LIMIT_GENERAL_PER_MIN: '1000', RATE_LIMIT_CAMPAIGNS_PER_MIN: '1000', RATE_LIMIT_BILLING_PER_MIN: '1000' });
  });
  afterAll(async () => {
    await env.close();
  });

  it('once the imports budget is spent, no spelling of the import route reaches the handler', async () => {
    const { app, deps } = await env.api();
    await waitForRedis(deps.redis);
    const shop = await createShop(env.db);
    const auth = `Bearer ${await sessionToken(shop.domain)}`;
    const importAt = (path: string) =>
      request(app).post(path).set('Authorization', auth).set('Idempotency-Key', randomUUID()).send({ contacts: [{ phone: testPhone() }] });

    // The imports budget (2 a minute here) spent: one import accepted, a second refused while it is in flight;
    // the third is over the budget.
    expect((await importAt('/api/contacts/import')).status).toBe(202);
    expect((await importAt('/api/contacts/import')).status).toBe(409);
    expect((await importAt('/api/contacts/import')).status).toBe(429);

    const variants = ['/api/Contacts/Import', '/api/contacts/IMPORT', '/API/contacts/import', '/Api/Contacts/Import', '/api/contacts/import/'];
    const outcomes = [];
    for (const path of variants) outcomes.push({ path, refused: [404, 429].includes((await importAt(path)).status) });
    expect(outcomes).toEqual(variants.map((path) => ({ path, refused: true })));

    // Only the one accepted import exists.
    const [row] = await env.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM contact_imports WHERE shop_id = ${shop.id}::uuid`;
    expect(row?.n).toBe(1n);
  });

});

describe('every route has one spelling', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv({ RATE_LIMIT_IMPORTS_PER_MIN: '1000', RATE_LIMIT_GENERAL_PER_MIN: '1000', RATE_LIMIT_CAMPAIGNS_PER_MIN: '1000', RATE_LIMIT_BILLING_PER_MIN: '1000' });
  });
  afterAll(async () => {
    await env.close();
  });

  it('every route of the app is 404 under another spelling of its path (letter case, trailing slash)', async () => {
    const { app, deps } = await env.api();
    await waitForRedis(deps.redis);
    const shop = await createShop(env.db);
    const auth = `Bearer ${await sessionToken(shop.domain)}`;
    const routes = routeTable(app);
    expect(routes.length).toBeGreaterThan(20);

    const capitalise = (segment: string) => segment.charAt(0).toUpperCase() + segment.slice(1);
    const wrong: { route: string; variant: string; status: number; message: string }[] = [];
    for (const route of routes) {
      const segments = route.path.split('/').map((s) => (s === ':provider' ? 'simulator' : s.startsWith(':') ? randomUUID() : s));
      const literal = segments.map((s, i) => (route.path.split('/')[i]!.startsWith(':') || s === '' ? -1 : i)).filter((i) => i >= 0);
      const last = literal[literal.length - 1]!;
      const variants = [
        // The last fixed segment: the router that declares the route must be case-sensitive.
        segments.map((s, i) => (i === last ? capitalise(s) : s)).join('/'),
        // The first: the mount point must be too.
        segments.map((s, i) => (i === literal[0] ? s.toUpperCase() : s)).join('/'),
        `${segments.join('/')}/`,
      ];
      for (const variant of variants) {
        const res = await request(app)[route.method.toLowerCase() as 'get' | 'post' | 'patch' | 'delete' | 'put'](variant).set('Authorization', auth);
        const message = String(res.body?.error?.message);
        const notFound = res.status === 404 && message === 'Route not found';
        // /internal checks its signature for every path under it, before routing: unsigned, a variant that reaches it stops there.
        // /app is a single-page app: any other path under it gets the same static shell (no data, no
        // budget, no idempotency scope; its client router shows "not found"), labelled by the catch-all.
        const shell = route.path.startsWith('/app') && (res.status === 404 || (res.status === 200 && /^text\/html/.test(String(res.headers['content-type'])) && /frame-ancestors/.test(String(res.headers['content-security-policy']))));
        const refused = notFound || shell || (route.path.startsWith('/internal/') && res.status === 401 && /signature/i.test(message));
        if (!refused) wrong.push({ route: `${route.method} ${route.path}`, variant, status: res.status, message });
      }
    }
    expect(wrong).toEqual([]);
    // And none of them was matched by a route (but the admin's shell): every request went under the one label of unmatched requests.
    const matched = (await deps.metrics.httpRequests.get()).values.filter((v) => v.labels.route !== 'unmatched' && !String(v.labels.route).startsWith('/app'));
    expect(matched).toEqual([]);
  });
});
