import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { Express } from 'express';
import { createTestEnv, type TestEnv } from './harness';
import { createCampaign, createContact, createContactImport, createShop, type ShopFixture } from './factories';
import { routeTable, type RouteEntry } from './route-table';
import { sessionToken } from './session-token';
import { tableFingerprints } from './table-fingerprints';
import type { Db } from '../lib/db';

// Every /api route with an id in its path, called by shop B with an id of
// shop A's, must answer 404 NOT_FOUND and change nothing. Routes are read
// from the app itself, so routes added later are covered without editing
// this file. Only /api is tenant-scoped by the session; webhooks and
// /internal authenticate differently and are tested by their owners.

/** How to make shop A's resource for a path parameter, by the collection segment before it. */
const SEEDERS: Record<string, (db: Db, shopId: string) => Promise<{ id: string }>> = {
  contacts: (db, shopId) => createContact(db, shopId),
  imports: (db, shopId) => createContactImport(db, shopId, { status: 'completed' }),
  campaigns: (db, shopId) => createCampaign(db, shopId),
  flows: async (db, shopId) => {
    const [flow] = await db.$queryRaw<{ id: string }[]>`INSERT INTO flows (shop_id, name, trigger_type) VALUES (${shopId}::uuid, 'Welcome', 'contact_subscribed') RETURNING id`;
    const [version] = await db.$queryRaw<{ id: string }[]>`
      INSERT INTO flow_versions (flow_id, shop_id, version, steps) VALUES (${flow!.id}::uuid, ${shopId}::uuid, 1, '[{"type":"send","body":"Hi"}]') RETURNING id`;
    await db.$executeRaw`UPDATE flows SET current_version_id = ${version!.id}::uuid WHERE id = ${flow!.id}::uuid`;
    return flow!;
  },
  requests: async (db, shopId) =>
    (await db.$queryRaw<{ id: string }[]>`INSERT INTO privacy_requests (shop_id, kind) VALUES (${shopId}::uuid, 'data_request') RETURNING id`)[0]!,
};

/** A body the route accepts, so only ownership decides the answer (default `{}`). */
const BODIES: Record<string, object> = {
  'PATCH /api/contacts/:id': { firstName: 'Mallory' },
  'PATCH /api/campaigns/:id': { name: 'Mallory' },
  'PATCH /api/flows/:id': { name: 'Mallory' },
  'POST /api/flows/:id/test': { contactId: randomUUID() },
};

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function collectionOf(path: string, param: string): string | undefined {
  const segments = path.split('/');
  const at = segments.indexOf(`:${param}`);
  return at > 0 ? segments[at - 1] : undefined;
}

describe('tenant isolation', () => {
  let env: TestEnv;
  let app: Express;
  let shopA: ShopFixture;
  let shopB: ShopFixture;
  let routes: RouteEntry[];

  beforeAll(async () => {
    // Budgets are not under test here; many calls come from one shop.
    env = await createTestEnv({ RATE_LIMIT_GENERAL_PER_MIN: '100000', RATE_LIMIT_CAMPAIGNS_PER_MIN: '100000', RATE_LIMIT_IMPORTS_PER_MIN: '100000', RATE_LIMIT_BILLING_PER_MIN: '100000' });
    ({ app } = await env.api());
    shopA = await createShop(env.db, { credits: 1_000 });
    shopB = await createShop(env.db, { credits: 1_000 });
    routes = routeTable(app).filter((r) => r.path.startsWith('/api/') && r.params.length > 0);
  });
  afterAll(async () => {
    await env.close();
  });

  it('finds the id routes in the app (the walker is not blind)', () => {
    const names = routes.map((r) => `${r.method} ${r.path}`);
    expect(names).toEqual(expect.arrayContaining(['GET /api/contacts/:id', 'PATCH /api/contacts/:id', 'DELETE /api/contacts/:id', 'GET /api/contacts/:id/consent', 'GET /api/contacts/imports/:id']));
  });

  it("every /api route with an id answers 404 NOT_FOUND to another shop and changes nothing", async () => {
    const failures: string[] = [];
    for (const route of routes) {
      const seeded: string[] = [];
      const ids: Record<string, string> = {};
      for (const param of route.params) {
        const seed = SEEDERS[collectionOf(route.path, param) ?? ''];
        ids[param] = seed ? (await seed(env.db, shopA.id)).id : randomUUID();
        if (seed) seeded.push(param);
      }
      const url = route.path.replace(/:(\w+)/g, (_m, p: string) => ids[p]!);
      const label = `${route.method} ${route.path}`;

      // Positive control: the owner can read what was seeded, so B's 404 is about ownership.
      if (route.method === 'GET' && seeded.length === route.params.length) {
        const own = await request(app).get(url).set('Authorization', `Bearer ${await sessionToken(shopA.domain)}`);
        if (own.status !== 200) failures.push(`${label}: the owner got ${own.status}, expected 200 (seeding is broken)`);
      }

      const before = await tableFingerprints(env.db, { ignoreShopRowsOf: { idempotency_keys: shopB.id } });
      let req = request(app)[route.method.toLowerCase() as 'get' | 'post' | 'patch' | 'put' | 'delete'](url).set('Authorization', `Bearer ${await sessionToken(shopB.domain)}`);
      if (MUTATING.has(route.method)) req = req.set('Idempotency-Key', randomUUID()).send(BODIES[label] ?? {});
      const res = await req;
      const after = await tableFingerprints(env.db, { ignoreShopRowsOf: { idempotency_keys: shopB.id } });

      if (res.status !== 404 || res.body?.error?.code !== 'NOT_FOUND') failures.push(`${label}: shop B got ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      const changed = Object.keys(before).filter((t) => before[t] !== after[t]);
      if (changed.length > 0) failures.push(`${label}: shop B's request changed ${changed.join(', ')}`);
    }
    expect(failures).toEqual([]);
  });
});
