import request from 'supertest';
import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import { createTestEnv, type TestEnv } from '../../../../test/harness';
import { createContact, createShop, type ShopFixture } from '../../../../test/factories';
import { sessionToken } from '../../../../test/session-token';
import { eraseDeletedFlow } from '../../../../domain/flows/erase-deleted-flow';
import { MAX_FLOWS_PER_SHOP } from '../../../../domain/flows/flow-input';
import { jobIds } from '../../../../queue/job-ids';

// /api/flows end to end against real Postgres and Redis: CRUD, validation,
// idempotent replays, tenancy, versions, status transitions, the test trigger.

describe('flows API', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;
  const post = async (shop: ShopFixture, path: string, body: object = {}, key?: string) => {
    const req = request(app).post(path).set('Authorization', await auth(shop));
    if (key) req.set('Idempotency-Key', key);
    return req.send(body);
  };
  const get = async (shop: ShopFixture, path: string) => request(app).get(path).set('Authorization', await auth(shop));
  const patch = async (shop: ShopFixture, path: string, body: object, key?: string) => {
    const req = request(app).patch(path).set('Authorization', await auth(shop));
    if (key) req.set('Idempotency-Key', key);
    return req.send(body);
  };
  const del = async (shop: ShopFixture, path: string, key?: string) => {
    const req = request(app).delete(path).set('Authorization', await auth(shop));
    if (key) req.set('Idempotency-Key', key);
    return req.send();
  };
  const activate = (shop: ShopFixture, id: string) => post(shop, `/api/flows/${id}/activate`, {}, randomUUID());
  const pause = (shop: ShopFixture, id: string) => post(shop, `/api/flows/${id}/pause`, {}, randomUUID());

  const welcome = {
    name: 'Welcome series',
    trigger: { type: 'contact_subscribed' },
    steps: [
      { type: 'send', body: 'Welcome to {{shopName}}, {{firstName|friend}}! Use {{discountCode}} for 10% off.', discountCode: 'WELCOME10' },
      { type: 'wait', duration: { amount: 2, unit: 'days' } },
      { type: 'condition', check: { kind: 'hasOrderedSinceTrigger', is: false } },
      { type: 'send', body: 'Still looking? {{discountCode}} is waiting for you.', discountCode: 'WELCOME10' },
    ],
  };
  const flowCount = async (shopId: string) => {
    const [r] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM flows WHERE shop_id = ${shopId}::uuid`;
    return r!.n;
  };

  describe('create, read, list', () => {
    it('POST /api/flows creates a draft with version 1, Location and the published shape; GET returns it with its history', async () => {
      const shop = await createShop(env.db);
      const res = await post(shop, '/api/flows', welcome);
      expect(res.status).toBe(201);
      expect(res.headers.location).toBe(`/api/flows/${res.body.id}`);
      expect(res.body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        name: 'Welcome series',
        trigger: { type: 'contact_subscribed' },
        status: 'draft',
        currentVersion: {
          id: expect.stringMatching(/^[0-9a-f-]{36}$/),
          version: 1,
          steps: [welcome.steps[0], welcome.steps[1], { ...welcome.steps[2], otherwise: 'exit' }, welcome.steps[3]],
          exitCondition: { orderPlaced: true },
          smartSending: { mode: 'apply' },
          createdAt: expect.any(String),
        },
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
        activatedAt: null,
      });
      const detail = await get(shop, `/api/flows/${res.body.id}`);
      expect(detail.status).toBe(200);
      expect(detail.body).toEqual({
        ...res.body,
        versions: [{ id: res.body.currentVersion.id, version: 1, stepCount: 4, createdAt: res.body.currentVersion.createdAt, runs: { active: 0, total: 0 } }],
      });
    });

    it('an abandoned-checkout flow defaults to a 1 h delay; a post-purchase flow does not exit on an order', async () => {
      const shop = await createShop(env.db);
      const checkout = await post(shop, '/api/flows', { name: 'Cart', trigger: { type: 'checkout_abandoned' }, steps: [{ type: 'send', body: 'Forgot something? {{checkoutUrl}}' }] });
      expect(checkout.status).toBe(201);
      expect(checkout.body.trigger).toEqual({ type: 'checkout_abandoned', delayMinutes: 60 });
      expect(checkout.body.currentVersion.exitCondition).toEqual({ orderPlaced: true });
      const after = await post(shop, '/api/flows', { name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks for your order!' }] });
      expect(after.body.currentVersion.exitCondition).toEqual({ orderPlaced: false });
    });

    it('lists newest first with keyset pagination and a status filter, each with its active runs', async () => {
      const shop = await createShop(env.db);
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) ids.push((await post(shop, '/api/flows', { ...welcome, name: `Flow ${i}` })).body.id);
      expect((await activate(shop, ids[0]!)).status).toBe(200);
      const page1 = await get(shop, '/api/flows?limit=2');
      expect(page1.status).toBe(200);
      expect(page1.body.data.map((f: { id: string }) => f.id)).toEqual([ids[2], ids[1]]);
      expect(page1.body.data[0]).toMatchObject({ activeRuns: 0, currentVersion: { version: 1 } });
      const page2 = await get(shop, `/api/flows?limit=2&cursor=${page1.body.nextCursor}`);
      expect(page2.body).toEqual({ data: [expect.objectContaining({ id: ids[0], status: 'live' })], nextCursor: null });
      const live = await get(shop, '/api/flows?status=live');
      expect(live.body.data.map((f: { id: string }) => f.id)).toEqual([ids[0]]);
      expect((await get(shop, '/api/flows?cursor=garbage')).status).toBe(400);
      expect((await get(shop, '/api/flows?status=archived')).status).toBe(400);
    });
  });

  describe('validation', () => {
    it.each<[string, object, string]>([
      ['no name', { ...welcome, name: '' }, 'name'],
      ['an unknown trigger', { ...welcome, trigger: { type: 'birthday' } }, 'trigger.type'],
      ['an unknown placeholder', { ...welcome, steps: [{ type: 'send', body: 'Hi {{nickname}}' }] }, 'steps.0.body'],
      ['a body over 1 600 characters', { ...welcome, steps: [{ type: 'send', body: 'x'.repeat(1601) }] }, 'steps.0.body'],
      ['a blank body', { ...welcome, steps: [{ type: 'send', body: ' \n\t ' }] }, 'steps.0.body'],
      ['{{discountCode}} without a code', { ...welcome, steps: [{ type: 'send', body: 'Use {{discountCode}}' }] }, 'steps.0.discountCode'],
      ['a wait over 90 days', { ...welcome, steps: [{ type: 'wait', duration: { amount: 91, unit: 'days' } }] }, 'steps.0.duration'],
      ['a wait with both kinds', { ...welcome, steps: [{ type: 'wait', duration: { amount: 1, unit: 'hours' }, untilLocalTime: { from: '10:00', to: '20:00' } }] }, 'steps.0'],
      ['a window that is not HH:MM', { ...welcome, steps: [{ type: 'wait', untilLocalTime: { from: '9am', to: '20:00' } }] }, 'steps.0.untilLocalTime.from'],
      ['21 steps', { ...welcome, steps: Array.from({ length: 21 }, () => ({ type: 'send', body: 'Hi' })) }, 'steps'],
      ['a backward goTo', { ...welcome, steps: [{ type: 'send', body: 'a' }, { type: 'condition', check: { kind: 'consent', is: 'subscribed' }, otherwise: { goTo: 1 } }] }, 'steps.1.otherwise.goTo'],
      ['an unknown field', { ...welcome, colour: 'red' }, 'colour'],
      ['a checkout delay under 10 minutes', { ...welcome, trigger: { type: 'checkout_abandoned', delayMinutes: 1 } }, 'trigger.delayMinutes'],
      // Valid JSON, but no jsonb can hold it: it used to fail the write with a 500.
      ['an unpaired surrogate in a body', { ...welcome, steps: [{ type: 'send', body: 'Hi \ud800 there' }] }, 'steps.0.body'],
      ['a NUL in a body', { ...welcome, steps: [{ type: 'send', body: 'Hi\u0000' }] }, 'steps.0.body'],
    ])('refuses %s with 400 VALIDATION_FAILED naming the path, writing nothing', async (_what, body, path) => {
      const shop = await createShop(env.db);
      const res = await post(shop, '/api/flows', body, randomUUID());
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
      expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
      expect(await flowCount(shop.id)).toBe(0);
    });

    it('a PATCH whose step carries an unpaired surrogate is 400 naming it, and the flow keeps its version', async () => {
      const shop = await createShop(env.db);
      const created = await post(shop, '/api/flows', welcome, randomUUID());
      expect(created.status).toBe(201);
      const res = await patch(shop, `/api/flows/${created.body.id}`, { steps: [{ type: 'send', body: 'Hi a\ud83d' }] });
      expect([res.status, res.body.error.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect(res.body.error.details).toEqual([expect.objectContaining({ path: 'steps.0.body', message: expect.stringMatching(/unpaired UTF-16 surrogate \(index 4\)/) })]);
      expect((await get(shop, `/api/flows/${created.body.id}`)).body.currentVersion.id).toBe(created.body.currentVersion.id);
    });

    it('a draft without a send step saves but cannot go live; {{checkoutUrl}} goes live only on a checkout trigger', async () => {
      const shop = await createShop(env.db);
      const empty = await post(shop, '/api/flows', { name: 'Later', trigger: { type: 'contact_subscribed' } });
      expect(empty.status).toBe(201);
      const refused = await activate(shop, empty.body.id);
      expect(refused.status).toBe(400);
      expect(refused.body.error).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'steps', message: expect.stringContaining('send step') }] });
      const wrong = await post(shop, '/api/flows', { name: 'Oops', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Back: {{checkoutUrl}}' }] });
      expect((await activate(shop, wrong.body.id)).body.error.details).toEqual([{ path: 'steps.0.body', message: expect.stringContaining('checkoutUrl') }]);
      expect((await get(shop, `/api/flows/${wrong.body.id}`)).body.status).toBe('draft');
    });
  });

  describe('idempotency and tenancy', () => {
    it('a replay with the same Idempotency-Key returns the stored flow and creates nothing; another body with it is 422', async () => {
      const shop = await createShop(env.db);
      const key = randomUUID();
      const first = await post(shop, '/api/flows', welcome, key);
      const again = await post(shop, '/api/flows', welcome, key);
      expect(again.status).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body).toEqual(first.body);
      expect(await flowCount(shop.id)).toBe(1);
      const other = await post(shop, '/api/flows', { ...welcome, name: 'Other' }, key);
      expect(other.status).toBe(422);
      expect(other.body.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    });

    it('activate, pause and test require an Idempotency-Key', async () => {
      const shop = await createShop(env.db);
      const flow = await post(shop, '/api/flows', welcome);
      for (const action of ['activate', 'pause', 'test']) {
        const res = await post(shop, `/api/flows/${flow.body.id}/${action}`, action === 'test' ? { contactId: randomUUID() } : {});
        expect(res.status).toBe(400);
        expect(res.body.error.code).toBe('IDEMPOTENCY_KEY_REQUIRED');
      }
    });

    it("another shop's flow is 404 on every route and is never changed; a malformed id is 404", async () => {
      const owner = await createShop(env.db);
      const other = await createShop(env.db);
      const flow = await post(owner, '/api/flows', welcome);
      const id = flow.body.id as string;
      const contact = await createContact(env.db, other.id);
      const responses = [
        await get(other, `/api/flows/${id}`),
        await patch(other, `/api/flows/${id}`, { name: 'Mine now' }),
        await activate(other, id),
        await pause(other, id),
        await post(other, `/api/flows/${id}/test`, { contactId: contact.id }, randomUUID()),
        await del(other, `/api/flows/${id}`),
        await get(owner, '/api/flows/not-a-uuid'),
      ];
      for (const res of responses) {
        expect(res.status).toBe(404);
        expect(res.body.error.code).toBe('NOT_FOUND');
      }
      expect((await get(other, '/api/flows')).body.data).toEqual([]);
      const still = await get(owner, `/api/flows/${id}`);
      expect(still.body).toMatchObject({ name: 'Welcome series', status: 'draft' });
      // A test run for another shop's contact names no contact of this shop.
      const mine = await post(owner, `/api/flows/${id}/test`, { contactId: contact.id }, randomUUID());
      expect(mine.status).toBe(404);
    });
  });

  describe('versions and status', () => {
    it('editing a live flow writes version 2 while a run in progress stays on version 1; a name change writes no version', async () => {
      const shop = await createShop(env.db);
      const contact = await createContact(env.db, shop.id);
      const flow = (await post(shop, '/api/flows', welcome)).body;
      expect((await activate(shop, flow.id)).body).toMatchObject({ status: 'live', activatedAt: expect.any(String) });
      const run = await post(shop, `/api/flows/${flow.id}/test`, { contactId: contact.id }, randomUUID());
      expect(run.status).toBe(201);
      expect(run.body).toMatchObject({ version: 1, versionId: flow.currentVersion.id, status: 'active', currentStep: 0, triggerType: 'manual' });

      const renamed = await patch(shop, `/api/flows/${flow.id}`, { name: 'Welcome' }, randomUUID());
      expect(renamed.body.currentVersion.version).toBe(1);
      const edited = await patch(shop, `/api/flows/${flow.id}`, { steps: [{ type: 'wait', duration: { amount: 1, unit: 'hours' } }, { type: 'send', body: 'Hello again' }] }, randomUUID());
      expect(edited.status).toBe(200);
      expect(edited.body).toMatchObject({ name: 'Welcome', status: 'live', currentVersion: { version: 2, steps: [{ type: 'wait' }, { type: 'send', body: 'Hello again' }] } });
      // The same content again writes nothing.
      const same = await patch(shop, `/api/flows/${flow.id}`, { steps: edited.body.currentVersion.steps }, randomUUID());
      expect(same.body.currentVersion.id).toBe(edited.body.currentVersion.id);

      const [row] = await env.db.$queryRaw<{ version_id: string }[]>`SELECT version_id FROM flow_runs WHERE id = ${BigInt(run.body.id)}`;
      expect(row!.version_id).toBe(flow.currentVersion.id);
      const detail = (await get(shop, `/api/flows/${flow.id}`)).body;
      expect(detail.versions).toEqual([
        expect.objectContaining({ version: 2, stepCount: 2, runs: { active: 0, total: 0 } }),
        expect.objectContaining({ version: 1, stepCount: 4, runs: { active: 1, total: 1 } }),
      ]);
      // A live flow's new version must be runnable; its trigger changes only while not live.
      const noSend = await patch(shop, `/api/flows/${flow.id}`, { steps: [{ type: 'wait', duration: { amount: 1, unit: 'hours' } }] }, randomUUID());
      expect(noSend.status).toBe(400);
      const trigger = await patch(shop, `/api/flows/${flow.id}`, { trigger: { type: 'order_created' } }, randomUUID());
      expect(trigger.status).toBe(409);
      expect(trigger.body.error).toMatchObject({ code: 'INVALID_STATE', details: { status: 'live' } });
      // Versions are immutable in Postgres itself.
      await expect(env.db.$executeRaw`UPDATE flow_versions SET steps = '[]' WHERE id = ${flow.currentVersion.id}::uuid`).rejects.toThrow(/immutable/);
    });

    it('a draft keeps only its current version unless a run uses an older one', async () => {
      const shop = await createShop(env.db);
      const flow = (await post(shop, '/api/flows', welcome)).body;
      await patch(shop, `/api/flows/${flow.id}`, { steps: [{ type: 'send', body: 'One' }] });
      const latest = await patch(shop, `/api/flows/${flow.id}`, { steps: [{ type: 'send', body: 'Two' }] });
      expect(latest.body.currentVersion.version).toBe(3);
      expect((await get(shop, `/api/flows/${flow.id}`)).body.versions.map((v: { version: number }) => v.version)).toEqual([3]);
    });

    it('live ↔ paused; pause of a draft is 409; activate and pause repeat harmlessly', async () => {
      const shop = await createShop(env.db);
      const flow = (await post(shop, '/api/flows', welcome)).body;
      const draftPause = await pause(shop, flow.id);
      expect(draftPause.status).toBe(409);
      expect(draftPause.body.error).toMatchObject({ code: 'INVALID_STATE', details: { status: 'draft' } });
      expect((await activate(shop, flow.id)).body.status).toBe('live');
      expect((await activate(shop, flow.id)).body.status).toBe('live');
      expect((await pause(shop, flow.id)).body.status).toBe('paused');
      expect((await pause(shop, flow.id)).body.status).toBe('paused');
      expect((await activate(shop, flow.id)).body.status).toBe('live');
    });

    it('delete: a live flow is 409 and stays; a paused one is marked (its run in progress with it), its job ends and removes its runs with its versions; replay is 204, again 404', async () => {
      const shop = await createShop(env.db);
      const contact = await createContact(env.db, shop.id);
      const flow = (await post(shop, '/api/flows', welcome)).body;
      await activate(shop, flow.id);
      const live = await del(shop, `/api/flows/${flow.id}`, randomUUID());
      expect(live.status).toBe(409);
      expect(live.body.error.details).toEqual({ status: 'live' });
      expect((await get(shop, `/api/flows/${flow.id}`)).body).toMatchObject({ id: flow.id, status: 'live' });
      expect(await env.db.$queryRaw`SELECT deleted_at FROM flows WHERE id = ${flow.id}::uuid`).toEqual([{ deleted_at: null }]);
      await post(shop, `/api/flows/${flow.id}/test`, { contactId: contact.id }, randomUUID());
      await pause(shop, flow.id);
      // A run in progress no longer makes it 409 (test-flow-deletion: domain/flows/delete-flow.int.test.ts).
      const key = randomUUID();
      expect((await del(shop, `/api/flows/${flow.id}`, key)).status).toBe(204);
      expect((await del(shop, `/api/flows/${flow.id}`, key)).status).toBe(204);
      expect((await del(shop, `/api/flows/${flow.id}`, randomUUID())).status).toBe(404);
      // Its history goes with its job (in chunks, off the request): the request only marked it and queued that job.
      const left = async () => (await env.db.$queryRaw<{ flows: number; versions: number; runs: number }[]>`
        SELECT (SELECT count(*) FROM flows WHERE id = ${flow.id}::uuid)::int AS flows,
               (SELECT count(*) FROM flow_versions WHERE flow_id = ${flow.id}::uuid)::int AS versions,
               (SELECT count(*) FROM flow_runs WHERE flow_id = ${flow.id}::uuid)::int AS runs`)[0];
      expect(await left()).toEqual({ flows: 1, versions: 1, runs: 1 });
      const worker = env.workerDeps();
      const job = await worker.queues.get('maintenance').getJob(jobIds.flowDelete(flow.id));
      expect(job?.name).toBe('flows.delete.v1');
      expect(job?.data).toMatchObject({ flowId: flow.id });
      expect((await eraseDeletedFlow(worker, flow.id)).outcome).toBe('erased');
      expect(await left()).toEqual({ flows: 0, versions: 0, runs: 0 });
    });

    it('delete: the flow is gone for every reader at once (get, patch, stats, status changes, test, list: 404 or absent), another flow of the shop stays', async () => {
      const shop = await createShop(env.db);
      const contact = await createContact(env.db, shop.id);
      const kept = (await post(shop, '/api/flows', { ...welcome, name: 'Kept' })).body;
      const flow = (await post(shop, '/api/flows', welcome)).body;
      const first = await del(shop, `/api/flows/${flow.id}`);
      expect(first.status).toBe(204);
      expect(first.text).toBe('');

      const notFound = { error: expect.objectContaining({ code: 'NOT_FOUND' }) };
      for (const res of [
        await get(shop, `/api/flows/${flow.id}`),
        await get(shop, `/api/flows/${flow.id}/stats`),
        await patch(shop, `/api/flows/${flow.id}`, { name: 'Revived' }),
        await activate(shop, flow.id),
        await pause(shop, flow.id),
        await post(shop, `/api/flows/${flow.id}/test`, { contactId: contact.id }, randomUUID()),
        await del(shop, `/api/flows/${flow.id}`),
      ]) {
        expect(res.status).toBe(404);
        expect(res.body).toEqual(notFound);
      }
      const list = await get(shop, '/api/flows');
      expect(list.status).toBe(200);
      expect(list.body.data.map((f: { id: string }) => f.id)).toEqual([kept.id]);
      const [row] = await env.db.$queryRaw<{ status: string; name: string; runs: number }[]>`
        SELECT status, name, (SELECT count(*) FROM flow_runs WHERE flow_id = ${flow.id}::uuid)::int AS runs FROM flows WHERE id = ${flow.id}::uuid`;
      expect(row).toEqual({ status: 'deleted', name: welcome.name, runs: 0 });
      expect((await get(shop, `/api/flows/${kept.id}`)).body).toMatchObject({ id: kept.id, status: 'draft' });
    });

    it('delete frees the flow\'s place under the per-shop bound at once, before its job has run', async () => {
      const shop = await createShop(env.db);
      await env.db.$executeRaw`
        INSERT INTO flows (shop_id, name, trigger_type) SELECT ${shop.id}::uuid, 'Filler ' || g, 'order_created' FROM generate_series(1, ${MAX_FLOWS_PER_SHOP - 1}::int) g`;
      const last = (await post(shop, '/api/flows', welcome)).body;
      const full = await post(shop, '/api/flows', welcome);
      expect(full.status).toBe(409);
      expect(full.body.error).toMatchObject({ code: 'LIMIT_REACHED' });
      expect((await del(shop, `/api/flows/${last.id}`)).status).toBe(204);
      expect((await post(shop, '/api/flows', welcome)).status).toBe(201);
    });
  });

  describe('test trigger', () => {
    it('starts one run per request (a replay returns the same run), folding leading waits into the first due time', async () => {
      const shop = await createShop(env.db);
      const contact = await createContact(env.db, shop.id);
      const flow = (await post(shop, '/api/flows', { ...welcome, steps: [{ type: 'wait', duration: { amount: 30, unit: 'minutes' } }, ...welcome.steps] })).body;
      const key = randomUUID();
      const before = Date.now();
      const run = await post(shop, `/api/flows/${flow.id}/test`, { contactId: contact.id }, key);
      expect(run.status).toBe(201);
      expect(run.body).toEqual({
        id: expect.stringMatching(/^[0-9]+$/),
        flowId: flow.id,
        versionId: flow.currentVersion.id,
        version: 1,
        contactId: contact.id,
        triggerType: 'manual',
        status: 'active',
        currentStep: 1,
        nextDueAt: expect.any(String),
      });
      const due = Date.parse(run.body.nextDueAt);
      expect(due).toBeGreaterThanOrEqual(before + 30 * 60_000 - 1_000);
      expect(due).toBeLessThanOrEqual(Date.now() + 30 * 60_000 + 1_000);
      const replay = await post(shop, `/api/flows/${flow.id}/test`, { contactId: contact.id }, key);
      expect(replay.body).toEqual(run.body);
      const second = await post(shop, `/api/flows/${flow.id}/test`, { contactId: contact.id }, randomUUID());
      expect(second.body.id).not.toBe(run.body.id);
      const [n] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM flow_runs WHERE flow_id = ${flow.id}::uuid`;
      expect(n!.n).toBe(2);
    });

    it('refuses an unsubscribed contact (409) and a flow without a send step (400), starting nothing', async () => {
      const shop = await createShop(env.db);
      const unsubscribed = await createContact(env.db, shop.id, { consent: 'unsubscribed' });
      const flow = (await post(shop, '/api/flows', welcome)).body;
      const res = await post(shop, `/api/flows/${flow.id}/test`, { contactId: unsubscribed.id }, randomUUID());
      expect(res.status).toBe(409);
      expect(res.body.error).toMatchObject({ code: 'INVALID_STATE', details: { status: 'unsubscribed' } });
      const empty = (await post(shop, '/api/flows', { name: 'Empty', trigger: { type: 'contact_subscribed' } })).body;
      const subscribed = await createContact(env.db, shop.id);
      expect((await post(shop, `/api/flows/${empty.id}/test`, { contactId: subscribed.id }, randomUUID())).status).toBe(400);
      expect((await post(shop, `/api/flows/${flow.id}/test`, { contactId: 'nope' }, randomUUID())).status).toBe(400);
      const [n] = await env.db.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM flow_runs WHERE shop_id = ${shop.id}::uuid`;
      expect(n!.n).toBe(0);
    });
  });
});
