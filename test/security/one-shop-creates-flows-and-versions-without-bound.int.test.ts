import request from 'supertest';
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../harness';
import { createContact, createShop, type ShopFixture } from '../factories';
import { sessionToken } from '../session-token';
import { MAX_FLOWS_PER_SHOP, MAX_VERSIONS_PER_FLOW } from '../../domain/flows/flow-input';

// The attack: one shop creates flow after flow, or edits a live flow over and
// over (each edit a new immutable version of up to 20 × 1 600 characters), to
// grow tables every tenant shares. A shop has at most 100 flows and a flow at
// most 200 versions: past that, 409 LIMIT_REACHED and nothing is written. A
// draft keeps only its current version, except the ones its test runs use:
// edit, test, edit, test… kept every one of them, with no bound at all.
// Concurrent creates at the bound cannot both slip past it.

describe('one shop creates flows and versions without bound', () => {
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
  const flowBody = { name: 'Welcome', trigger: { type: 'contact_subscribed' }, steps: [{ type: 'send', body: 'Hi' }] };
  const create = async (shop: ShopFixture) => request(app).post('/api/flows').set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send(flowBody);
  const count = async (sqlCount: Promise<{ n: number }[]>) => (await sqlCount)[0]!.n;

  it(`the ${MAX_FLOWS_PER_SHOP + 1}st flow is 409 LIMIT_REACHED, also when the last places are raced for; other shops are unaffected`, async () => {
    const shop = await createShop(env.db);
    await env.db.$executeRaw`
      INSERT INTO flows (shop_id, name, trigger_type) SELECT ${shop.id}::uuid, 'Filler ' || g, 'order_created' FROM generate_series(1, ${MAX_FLOWS_PER_SHOP - 2}::int) g`;
    const raced = await Promise.all(Array.from({ length: 5 }, () => create(shop)));
    expect(raced.map((r) => r.status).sort()).toEqual([201, 201, 409, 409, 409]);
    const refused = raced.find((r) => r.status === 409)!;
    expect(refused.body.error).toMatchObject({ code: 'LIMIT_REACHED', details: { resource: 'flows', limit: MAX_FLOWS_PER_SHOP } });
    expect(await count(env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM flows WHERE shop_id = ${shop.id}::uuid`)).toBe(MAX_FLOWS_PER_SHOP);
    expect((await create(await createShop(env.db))).status).toBe(201);
  });

  it(`a live flow's ${MAX_VERSIONS_PER_FLOW + 1}st version is 409 LIMIT_REACHED and the flow keeps its current version`, async () => {
    const shop = await createShop(env.db);
    const flow = (await create(shop)).body as { id: string };
    await request(app).post(`/api/flows/${flow.id}/activate`).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send({});
    await env.db.$executeRaw`
      INSERT INTO flow_versions (flow_id, shop_id, version, steps)
      SELECT ${flow.id}::uuid, ${shop.id}::uuid, g, '[{"type":"send","body":"old"}]' FROM generate_series(2, ${MAX_VERSIONS_PER_FLOW - 1}::int) g`;
    const edit = async (body: string) =>
      request(app).patch(`/api/flows/${flow.id}`).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send({ steps: [{ type: 'send', body }] });
    const last = await edit('Version 200');
    expect(last.status).toBe(200);
    expect(last.body.currentVersion.version).toBe(MAX_VERSIONS_PER_FLOW);
    const over = await edit('Version 201');
    expect(over.status).toBe(409);
    expect(over.body.error).toMatchObject({ code: 'LIMIT_REACHED', details: { resource: 'flow_versions', limit: MAX_VERSIONS_PER_FLOW } });
    const [current] = await env.db.$queryRaw<{ version: number }[]>`
      SELECT v.version FROM flows f JOIN flow_versions v ON v.id = f.current_version_id WHERE f.id = ${flow.id}::uuid`;
    expect(current!.version).toBe(MAX_VERSIONS_PER_FLOW);
  });

  it(`a draft's versions its test runs use count too: its ${MAX_VERSIONS_PER_FLOW + 1}st version is 409 LIMIT_REACHED`, async () => {
    const shop = await createShop(env.db);
    const flow = (await create(shop)).body as { id: string };
    const contact = await createContact(env.db, shop.id);
    await env.db.$executeRaw`
      INSERT INTO flow_versions (flow_id, shop_id, version, steps)
      SELECT ${flow.id}::uuid, ${shop.id}::uuid, g, '[{"type":"send","body":"old"}]' FROM generate_series(2, ${MAX_VERSIONS_PER_FLOW - 1}::int) g`;
    // Each version tried by a (finished) test run, as edit-then-test leaves them.
    await env.db.$executeRaw`
      INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, status, ended_at, created_at)
      SELECT v.flow_id, v.id, v.shop_id, ${contact.id}::uuid, 'manual', 'manual:' || v.version, now(), 'completed', now(), now() - interval '2 hours'
        FROM flow_versions v WHERE v.flow_id = ${flow.id}::uuid`;
    const edit = async (body: string) =>
      request(app).patch(`/api/flows/${flow.id}`).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send({ steps: [{ type: 'send', body }] });
    const last = await edit('Version 200');
    expect(last.status).toBe(200);
    expect(last.body.currentVersion.version).toBe(MAX_VERSIONS_PER_FLOW);
    const over = await edit('Version 201');
    expect(over.status).toBe(409);
    expect(over.body.error).toMatchObject({ code: 'LIMIT_REACHED', details: { resource: 'flow_versions', limit: MAX_VERSIONS_PER_FLOW } });
    expect(await count(env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM flow_versions WHERE flow_id = ${flow.id}::uuid`)).toBe(MAX_VERSIONS_PER_FLOW);
    // Versions no run uses still go with each edit: a draft never tested is edited without end, one version kept.
    const untested = (await create(shop)).body as { id: string };
    for (let i = 0; i < 3; i++) {
      const r = await request(app).patch(`/api/flows/${untested.id}`).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send({ steps: [{ type: 'send', body: `Edit ${i}` }] });
      expect(r.status).toBe(200);
    }
    expect(await count(env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM flow_versions WHERE flow_id = ${untested.id}::uuid`)).toBe(1);
  });
});
