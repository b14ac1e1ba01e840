import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createContact, createShop, type ShopFixture } from '../../test/factories';
import { createTestEnv, type TestEnv } from '../../test/harness';
import { waitFor } from '../../test/sending';
import { sessionToken } from '../../test/session-token';
import { claimDueRuns } from './claim-due-runs';
import { holdStoppedRuns } from './hold-stopped-runs';
import { releaseHeldRuns } from './release-held-runs';

// Runs of a flow that is not live leave the due index once the scheduler
// reaches them (held), and come back when the flow is activated again
// (docs/flows.md "Execution"). The claims never see a held run; nothing about
// a run but `held` changes, so it goes on exactly where it stopped.

describe('held runs of flows that are not live', () => {
  let env: TestEnv;
  let app: Awaited<ReturnType<TestEnv['api']>>['app'];

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const post = async (shop: ShopFixture, path: string, body: object = {}) =>
    request(app).post(path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).set('Idempotency-Key', randomUUID()).send(body);

  async function liveFlow(shop: ShopFixture): Promise<{ id: string; versionId: string }> {
    const created = await post(shop, '/api/flows', { name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks!' }] });
    expect(created.status).toBe(201);
    expect((await post(shop, `/api/flows/${created.body.id}/activate`)).status).toBe(200);
    return { id: created.body.id, versionId: created.body.currentVersion.id };
  }

  /** `n` runs of the flow, due one ms apart from `from`; their ids in due order. */
  async function runs(shop: ShopFixture, flow: { id: string; versionId: string }, n: number, from: Date, trigger = 'order_created'): Promise<string[]> {
    const contact = await createContact(env.db, shop.id);
    const rows = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, current_step, next_due_at)
      SELECT ${flow.id}::uuid, ${flow.versionId}::uuid, ${shop.id}::uuid, ${contact.id}::uuid, ${trigger}, ${randomUUID()} || '-' || g, ${from}::timestamptz, 0,
             ${from}::timestamptz + g * interval '1 ms'
        FROM generate_series(1, ${n}::int) g
      RETURNING id::text`;
    return rows.map((r) => r.id);
  }

  const heldOf = async (flowId: string): Promise<string[]> =>
    (await env.db.$queryRaw<{ id: string }[]>`SELECT id::text FROM flow_runs WHERE flow_id = ${flowId}::uuid AND status = 'active' AND held ORDER BY id`).map((r) => r.id);
  const runsHeldFlag = async (flowId: string): Promise<boolean> =>
    (await env.db.$queryRaw<{ runs_held: boolean }[]>`SELECT runs_held FROM flows WHERE id = ${flowId}::uuid`)[0]!.runs_held;
  /** Sweeps of the due index as the ticks make them, `scan` entries a call, until a whole sweep holds nothing more. */
  async function holdAll(now: Date, scan?: number): Promise<number> {
    let total = 0;
    for (;;) {
      let sweep = 0;
      let after = null;
      do {
        const pass = await holdStoppedRuns(env.db, { now, after, scan });
        expect(pass.held).toBeLessThanOrEqual(scan ?? Infinity);
        sweep += pass.held;
        after = pass.next;
      } while (after);
      total += sweep;
      if (sweep === 0) return total;
    }
  }
  /** Every claim at `now` until none is left (other tests' runs of this file are taken too): the ids claimed, in claim order. */
  async function claimAll(now: Date): Promise<string[]> {
    const ids: string[] = [];
    for (;;) {
      const c = await claimDueRuns(env.db, { now, limit: 1000, leaseMs: 60_000 });
      if (c.runIds.length === 0) return ids;
      ids.push(...c.runIds);
    }
  }

  it("holds a paused flow's due runs in bounded chunks; not its test runs, its runs not due yet, or a live flow's", async () => {
    const shop = await createShop(env.db);
    const paused = await liveFlow(shop);
    const live = await liveFlow(shop);
    const now = new Date();
    const due = await runs(shop, paused, 5, new Date(now.getTime() - 60_000));
    const later = await runs(shop, paused, 2, new Date(now.getTime() + 3_600_000));
    const manual = await runs(shop, paused, 1, new Date(now.getTime() - 60_000), 'manual');
    const going = await runs(shop, live, 2, new Date(now.getTime() - 60_000));
    expect((await post(shop, `/api/flows/${paused.id}/pause`)).status).toBe(200);
    // The pause itself marks nothing.
    expect(await heldOf(paused.id)).toEqual([]);

    // Three entries a call: the test run and the live flow's runs at the head do not stop the sweep.
    expect(await holdAll(now, 3)).toBe(5);
    expect(await heldOf(paused.id)).toEqual(due);
    expect(await heldOf(live.id)).toEqual([]);

    // The claims take the live flow's runs and the test run, never a held one.
    const claimed = await claimAll(now);
    expect(claimed).toEqual(expect.arrayContaining([...going, ...manual]));
    expect(claimed.filter((id) => due.includes(id) || later.includes(id))).toEqual([]);

    // Hours later the runs that were not due yet are held too, as they come due.
    const hoursLater = new Date(now.getTime() + 2 * 3_600_000);
    await holdAll(hoursLater);
    expect(await heldOf(paused.id)).toEqual([...due, ...later]);
  });

  it('an activation gives the held runs back, oldest due first and in chunks, and the claims take them in due order', async () => {
    const shop = await createShop(env.db);
    const flow = await liveFlow(shop);
    const now = new Date();
    const ids = await runs(shop, flow, 5, new Date(now.getTime() - 60_000));
    expect((await post(shop, `/api/flows/${flow.id}/pause`)).status).toBe(200);
    await holdAll(now);
    expect(await heldOf(flow.id)).toEqual(ids);

    expect((await post(shop, `/api/flows/${flow.id}/activate`)).status).toBe(200);
    expect(await runsHeldFlag(flow.id)).toBe(true);
    // An activated flow's runs are not held again.
    expect(await holdAll(now)).toBe(0);
    expect(await releaseHeldRuns(env.db, { limit: 2 })).toBe(2);
    expect(await heldOf(flow.id)).toEqual(ids.slice(2));
    expect(await runsHeldFlag(flow.id)).toBe(true);
    expect(await releaseHeldRuns(env.db, { limit: 2 })).toBe(2);
    expect(await releaseHeldRuns(env.db, { limit: 2 })).toBe(1);
    expect(await heldOf(flow.id)).toEqual([]);
    expect(await runsHeldFlag(flow.id)).toBe(false);
    expect((await claimAll(now)).filter((id) => ids.includes(id))).toEqual(ids);
  });

  it('a flow paused again before its runs are all given back: the rest stay held, and are given back at the next activation', async () => {
    const shop = await createShop(env.db);
    const flow = await liveFlow(shop);
    const now = new Date();
    const ids = await runs(shop, flow, 4, new Date(now.getTime() - 60_000));
    expect((await post(shop, `/api/flows/${flow.id}/pause`)).status).toBe(200);
    await holdAll(now);
    expect((await post(shop, `/api/flows/${flow.id}/activate`)).status).toBe(200);
    expect(await releaseHeldRuns(env.db, { limit: 1 })).toBe(1);
    expect((await post(shop, `/api/flows/${flow.id}/pause`)).status).toBe(200);
    expect(await releaseHeldRuns(env.db)).toBe(0);
    await holdAll(now);
    expect(await heldOf(flow.id)).toEqual(ids);
    expect((await post(shop, `/api/flows/${flow.id}/activate`)).status).toBe(200);
    while ((await releaseHeldRuns(env.db)) > 0);
    expect(await heldOf(flow.id)).toEqual([]);
    expect(await runsHeldFlag(flow.id)).toBe(false);
  });

  it('an activation committing while the hold reads the flow: the hold waits for it and holds nothing', async () => {
    const shop = await createShop(env.db);
    const flow = await liveFlow(shop);
    const now = new Date();
    await runs(shop, flow, 3, new Date(now.getTime() - 60_000));
    expect((await post(shop, `/api/flows/${flow.id}/pause`)).status).toBe(200);
    let hold: Promise<unknown> | undefined;
    await env.db.$transaction(async (tx) => {
      // As activateFlow does: the flow row locked, then live again.
      await tx.$queryRaw`SELECT id FROM flows WHERE id = ${flow.id}::uuid FOR UPDATE`;
      hold = holdStoppedRuns(env.db, { now });
      await new Promise((r) => setTimeout(r, 300));
      await tx.$executeRaw`UPDATE flows SET status = 'live', live_generation = live_generation + 1, runs_held = true WHERE id = ${flow.id}::uuid`;
    });
    await hold;
    expect(await heldOf(flow.id)).toEqual([]);
  });

  it("the worker's flows.due.v1 tick holds a paused flow's runs and, once it is activated, gives them back and claims them", async () => {
    const { deps } = await env.worker({ queues: ['flows'] });
    const shop = await createShop(env.db);
    const flow = await liveFlow(shop);
    const [id] = await runs(shop, flow, 1, new Date(Date.now() - 60_000));
    expect((await post(shop, `/api/flows/${flow.id}/pause`)).status).toBe(200);
    await deps.producer.add('flows.due.v1', { traceId: 'test' }, { jobId: `flows-due-test-${randomUUID()}` });
    await waitFor('the run held', async () => (await heldOf(flow.id)).length === 1);
    expect((await post(shop, `/api/flows/${flow.id}/activate`)).status).toBe(200);
    await deps.producer.add('flows.due.v1', { traceId: 'test' }, { jobId: `flows-due-test-${randomUUID()}` });
    await waitFor('the run claimed', async () => {
      const [r] = await env.db.$queryRaw<{ attempt: number; held: boolean }[]>`SELECT attempt, held FROM flow_runs WHERE id = ${id!}::bigint`;
      return !r!.held && r!.attempt > 0;
    });
  });
});
