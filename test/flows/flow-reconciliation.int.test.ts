import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createContact, createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { waitFor } from '../sending';
import { sessionToken } from '../session-token';
import type { WorkerDeps } from '../../apps/worker/src/deps';
import { consumeFlowTrigger } from '../../domain/flows/consume-flow-trigger';
import { readDbGauges, setDbGauges } from '../../domain/ops/db-gauges';
import { dispatchOutbox } from '../../domain/outbox/outbox';
import { clearAbandonedFlowClaims, republishFlowTriggers, settleOrphanedFlowMessages } from '../../domain/reconciliation/repair-flows';
import { runReconciliation, type RepairKind } from '../../domain/reconciliation/run-reconciliation';
import { jobIds } from '../../queue/job-ids';

// Flow reconciliation (issue 17, item 5): a trigger job lost with Redis after
// its event was published is published again and starts its runs, once; an
// event whose job ran is never republished; claims a dead worker left long
// ago are cleared; the lag gauges see the due runs of live flows only.

describe('flow reconciliation and gauges', () => {
  let env: TestEnv;
  let app: Express;
  let deps: WorkerDeps;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    deps = env.workerDeps();
  });
  afterAll(async () => {
    await env.close();
  });

  const post = async (shop: ShopFixture, path: string, body: object = {}) =>
    request(app).post(path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).set('Idempotency-Key', randomUUID()).send(body);

  async function liveFlow(shop: ShopFixture, trigger: object, steps: object[]): Promise<{ id: string; versionId: string }> {
    const created = await post(shop, '/api/flows', { name: 'Flow', trigger, steps });
    expect(created.status).toBe(201);
    expect((await post(shop, `/api/flows/${created.body.id}/activate`)).status).toBe(200);
    return { id: created.body.id, versionId: created.body.currentVersion.id };
  }
  const welcomeSteps = [{ type: 'wait', duration: { amount: 1, unit: 'days' } }, { type: 'send', body: 'Welcome to {{shopName}}!' }];

  /** A contact subscribing: the consent record's statement trigger writes the flows.trigger.v1 event. */
  async function subscribe(shop: ShopFixture): Promise<{ contactId: string; eventId: string }> {
    const contact = await createContact(env.db, shop.id);
    await env.db.$executeRaw`
      INSERT INTO contact_consent_records (shop_id, contact_id, state, source, collected_at)
      VALUES (${shop.id}::uuid, ${contact.id}::uuid, 'subscribed', 'api', now())`;
    const [e] = await env.db.$queryRaw<{ id: string }[]>`
      SELECT id::text FROM outbox_events WHERE event_type = 'flows.trigger.v1' AND aggregate_id = ${shop.id} ORDER BY id DESC LIMIT 1`;
    return { contactId: contact.id, eventId: e!.id };
  }
  const event = async (id: string) => {
    const [e] = await env.db.$queryRaw<{ published_at: Date | null; consumed_at: Date | null; consumed_parts: number[] }[]>`
      SELECT published_at, consumed_at, consumed_parts FROM outbox_events WHERE id = ${id}::bigint`;
    return e!;
  };
  const runsOf = async (flowId: string) =>
    env.db.$queryRaw<{ id: string; contact_id: string }[]>`SELECT id::text, contact_id FROM flow_runs WHERE flow_id = ${flowId}::uuid ORDER BY id`;
  const flowsQueue = () => deps.queues.get('flows');
  const inAMinute = () => new Date(Date.now() + 61_000);
  const only = (repairs: Record<RepairKind, number>) => Object.fromEntries(Object.entries(repairs).filter(([, n]) => n > 0));

  it('republishes a trigger whose job was lost with Redis; the job starts the run and consumes the event; nothing is republished again', async () => {
    const shop = await createShop(env.db);
    const flow = await liveFlow(shop, { type: 'contact_subscribed' }, welcomeSteps);
    const { contactId, eventId } = await subscribe(shop);
    // Published (the job is waiting: no worker runs the flows queue yet), then Redis loses it.
    expect(await dispatchOutbox(env.db, deps.producer)).toBeGreaterThanOrEqual(1);
    const jobId = jobIds.flowsTrigger(eventId, 0);
    expect((await flowsQueue().getJob(jobId))?.data).toMatchObject({ kind: 'contact_subscribed', outbox: { id: eventId, part: 0, parts: 1 } });
    await flowsQueue().obliterate({ force: true });
    expect((await event(eventId)).published_at).not.toBeNull();

    // Within the grace minute the event is left to its job; after it, republished under the same id.
    expect(await republishFlowTriggers(deps, { now: new Date(), limit: 100 })).toEqual({ republished: 0, consumed: 0 });
    const report = await runReconciliation({ ...deps, now: inAMinute });
    expect(only(report.repairs)).toMatchObject({ flow_trigger_republished: 1 });
    expect(await flowsQueue().getJob(jobId)).toBeDefined();
    // Still waiting (live): a second pass adds nothing.
    expect(await republishFlowTriggers(deps, { now: inAMinute(), limit: 100 })).toEqual({ republished: 0, consumed: 0 });

    const { host } = await env.worker({ queues: ['flows'] });
    await waitFor('trigger event consumed', async () => (await event(eventId)).consumed_at !== null);
    await host.close(2_000);
    expect(await runsOf(flow.id)).toEqual([expect.objectContaining({ contact_id: contactId })]);
    expect((await event(eventId)).consumed_parts).toEqual([0]);

    // Consumed: gone from the repair's index, even once its completed job is removed from Redis.
    await flowsQueue().obliterate({ force: true });
    expect(await republishFlowTriggers(deps, { now: inAMinute(), limit: 100 })).toEqual({ republished: 0, consumed: 0 });
    expect(await flowsQueue().getJob(jobId)).toBeUndefined();
    expect(await runsOf(flow.id)).toHaveLength(1);
  });

  it('end to end on real workers: a subscription whose trigger job Redis lost gets its welcome run from the reconcile.run.v1 job', async () => {
    const shop = await createShop(env.db);
    const flow = await liveFlow(shop, { type: 'contact_subscribed' }, welcomeSteps);
    const { contactId, eventId } = await subscribe(shop);
    await dispatchOutbox(env.db, deps.producer);
    // Redis loses the waiting job (a restart without persistence); the event was published two minutes ago.
    await flowsQueue().obliterate({ force: true });
    await env.db.$executeRaw`UPDATE outbox_events SET published_at = now() - interval '2 minutes' WHERE id = ${eventId}::bigint`;
    const { host, deps: workerDeps } = await env.worker({ queues: ['maintenance', 'flows'] });
    try {
      await workerDeps.producer.add('reconcile.run.v1', { traceId: 'test-reconcile' }, { jobId: `reconcile-${randomUUID()}` });
      await waitFor('welcome run started', async () => (await runsOf(flow.id)).length === 1, 30_000);
      await waitFor('trigger event consumed', async () => (await event(eventId)).consumed_at !== null);
    } finally {
      await host.close(2_000);
    }
    expect(await runsOf(flow.id)).toEqual([expect.objectContaining({ contact_id: contactId })]);
    await flowsQueue().obliterate({ force: true });
  });

  it('records each part of a split event once (parts finishing together too) and republishes only the parts never run', async () => {
    const shop = await createShop(env.db);
    await liveFlow(shop, { type: 'contact_subscribed' }, welcomeSteps);
    const recordIds = Array.from({ length: 2500 }, (_, i) => String(9_000_000_000 + i));
    const [row] = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO outbox_events (event_type, aggregate_id, payload, published_at)
      VALUES ('flows.trigger.v1', ${shop.id}, ${JSON.stringify({ kind: 'contact_subscribed', shopId: shop.id, recordIds })}::jsonb, ${new Date(Date.now() - 3_600_000)})
      RETURNING id::text`;
    const id = row!.id;
    const now = new Date();
    // Parts 0 and 2 ran, concurrently and part 2 twice: recorded once each, not consumed (part 1 is missing).
    const recorded = await Promise.all([0, 2, 2].map((part) => consumeFlowTrigger(env.db, { outboxId: id, part, parts: 3, now })));
    expect(recorded.filter(Boolean)).toHaveLength(2);
    expect(await event(id)).toMatchObject({ consumed_at: null });
    expect([...(await event(id)).consumed_parts].sort()).toEqual([0, 2]);

    await flowsQueue().obliterate({ force: true });
    expect(await republishFlowTriggers(deps, { now, limit: 100 })).toEqual({ republished: 1, consumed: 0 });
    const jobs = await flowsQueue().getJobs(['waiting', 'prioritized', 'delayed']);
    expect(jobs.map((j) => j.id)).toEqual([jobIds.flowsTrigger(id, 1)]);
    expect(jobs[0]!.data).toMatchObject({ outbox: { id, part: 1, parts: 3 }, recordIds: recordIds.slice(1000, 2000) });

    // The last part completes the event.
    expect(await consumeFlowTrigger(env.db, { outboxId: id, part: 1, parts: 3, now })).toBe(true);
    expect((await event(id)).consumed_at).not.toBeNull();
    expect(await consumeFlowTrigger(env.db, { outboxId: id, part: 1, parts: 3, now })).toBe(false);
    await flowsQueue().obliterate({ force: true });
  });

  it('leaves events older than the window and unpublished ones (the dispatcher has those) alone', async () => {
    const shop = await createShop(env.db);
    const payload = JSON.stringify({ kind: 'order_created', shopId: shop.id, orderId: '1001' });
    await env.db.$executeRaw`
      INSERT INTO outbox_events (event_type, aggregate_id, payload, published_at)
      VALUES ('flows.trigger.v1', ${shop.id}, ${payload}::jsonb, ${new Date(Date.now() - 25 * 3_600_000)}),
             ('flows.trigger.v1', ${shop.id}, ${payload}::jsonb, NULL)`;
    await flowsQueue().obliterate({ force: true });
    expect(await republishFlowTriggers(deps, { now: new Date(), limit: 100 })).toEqual({ republished: 0, consumed: 0 });
    await env.db.$executeRaw`DELETE FROM outbox_events WHERE aggregate_id = ${shop.id}`;
  });

  it('clears claims whose lease ended over an hour ago (a paused flow keeps them otherwise), not fresher ones', async () => {
    const shop = await createShop(env.db);
    const flow = await liveFlow(shop, { type: 'order_created' }, welcomeSteps);
    const [a, b] = [await createContact(env.db, shop.id), await createContact(env.db, shop.id)];
    const now = new Date();
    const ids: string[] = [];
    for (const [contact, leaseAgo] of [[a!, 2 * 3_600_000], [b!, 5 * 60_000]] as const) {
      const [r] = await env.db.$queryRaw<{ id: string }[]>`
        INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, current_step, next_due_at, claim_token, lease_until, attempt)
        VALUES (${flow.id}::uuid, ${flow.versionId}::uuid, ${shop.id}::uuid, ${contact.id}::uuid, 'order_created', ${randomUUID()}, ${now}, 1,
                ${new Date(now.getTime() - 3 * 3_600_000)}, ${randomUUID()}::uuid, ${new Date(now.getTime() - leaseAgo)}, 1)
        RETURNING id::text`;
      ids.push(r!.id);
    }
    expect((await post(shop, `/api/flows/${flow.id}/pause`)).status).toBe(200);
    expect(await clearAbandonedFlowClaims(env.db, { now, limit: 100 })).toBe(1);
    const rows = await env.db.$queryRaw<{ id: string; claim_token: string | null; lease_until: Date | null; next_due_at: Date; attempt: number }[]>`
      SELECT id::text, claim_token::text, lease_until, next_due_at, attempt FROM flow_runs WHERE id = ANY(${ids}::bigint[]) ORDER BY id`;
    expect(rows[0]).toMatchObject({ claim_token: null, lease_until: null, attempt: 1 });
    expect(rows[1]!.claim_token).not.toBeNull();
    expect(await clearAbandonedFlowClaims(env.db, { now, limit: 100 })).toBe(0);
  });

  it('records final the messages left sending whose run ended or moved on (unknown if they may have gone, failed if not), not those a claim will revisit', async () => {
    const shop = await createShop(env.db);
    const flow = await liveFlow(shop, { type: 'order_created' }, [{ type: 'send', body: 'Thanks!' }, { type: 'wait', duration: { amount: 1, unit: 'days' } }, { type: 'send', body: 'Again' }]);
    const contact = await createContact(env.db, shop.id);
    const now = new Date();
    const old = new Date(now.getTime() - 10 * 60_000);
    const runWith = async (o: { status: string; step: number; messageStep: number; mayHaveGone: boolean; createdAt: Date }) => {
      const active = o.status === 'active';
      const [r] = await env.db.$queryRaw<{ id: string }[]>`
        INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, status, exit_reason, current_step, next_due_at, ended_at)
        VALUES (${flow.id}::uuid, ${flow.versionId}::uuid, ${shop.id}::uuid, ${contact.id}::uuid, 'order_created', ${randomUUID()}, ${old}, ${o.status},
                ${active ? null : 'opted_out'}, ${o.step}, ${active ? now : null}, ${active ? null : now})
        RETURNING id::text`;
      const [m] = await env.db.$queryRaw<{ id: string }[]>`
        INSERT INTO flow_messages (run_id, step, shop_id, flow_id, version_id, contact_id, status, body, segments, encoding, claim_token, attempts, created_at)
        VALUES (${r!.id}::bigint, ${o.messageStep}, ${shop.id}::uuid, ${flow.id}::uuid, ${flow.versionId}::uuid, ${contact.id}::uuid, 'sending', 'Thanks!', 1, 'GSM-7',
                ${o.mayHaveGone ? randomUUID() : null}::uuid, 1, ${o.createdAt})
        RETURNING id::text`;
      return m!.id;
    };
    const stopped = await runWith({ status: 'exited', step: 0, messageStep: 0, mayHaveGone: true, createdAt: old });
    const released = await runWith({ status: 'exited', step: 0, messageStep: 0, mayHaveGone: false, createdAt: old });
    const movedOn = await runWith({ status: 'active', step: 2, messageStep: 0, mayHaveGone: true, createdAt: old });
    const revisited = await runWith({ status: 'active', step: 0, messageStep: 0, mayHaveGone: true, createdAt: old }); // its run's next claim decides
    const fresh = await runWith({ status: 'exited', step: 0, messageStep: 0, mayHaveGone: true, createdAt: now }); // its attempt may still be settling
    expect(await settleOrphanedFlowMessages(env.db, { now, limit: 100 })).toBe(3);
    const rows = await env.db.$queryRaw<{ id: string; status: string; error_code: string | null; body: string | null; credits: number; final_at: Date | null }[]>`
      SELECT id::text, status, error_code, body, credits, final_at FROM flow_messages WHERE id = ANY(${[stopped, released, movedOn, revisited, fresh]}::bigint[])`;
    const by = Object.fromEntries(rows.map((r) => [r.id, r]));
    expect(by[stopped]).toMatchObject({ status: 'unknown', error_code: 'run_ended', body: null, credits: 0 });
    expect(by[released]).toMatchObject({ status: 'failed', error_code: 'run_ended', body: null, credits: 0 });
    expect(by[movedOn]).toMatchObject({ status: 'unknown', error_code: 'run_ended' });
    expect(by[revisited]).toMatchObject({ status: 'sending', final_at: null });
    expect(by[fresh]).toMatchObject({ status: 'sending' });
    expect(await settleOrphanedFlowMessages(env.db, { now, limit: 100 })).toBe(0);
  });

  it('gauges the due backlog and the oldest due run of live flows only, and exports them', async () => {
    const now = new Date();
    const before = await readDbGauges(env.db, now, now);
    const shop = await createShop(env.db);
    const live = await liveFlow(shop, { type: 'order_created' }, welcomeSteps);
    const paused = await liveFlow(shop, { type: 'order_created' }, welcomeSteps);
    expect((await post(shop, `/api/flows/${paused.id}/pause`)).status).toBe(200);
    const contact = await createContact(env.db, shop.id);
    const insert = (flow: { id: string; versionId: string }, dueAgoMs: number) => env.db.$executeRaw`
      INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, current_step, next_due_at)
      VALUES (${flow.id}::uuid, ${flow.versionId}::uuid, ${shop.id}::uuid, ${contact.id}::uuid, 'order_created', ${randomUUID()}, ${now}, 1, ${new Date(now.getTime() - dueAgoMs)})`;
    // Far older than anything another test left: the oldest is ours.
    await insert(live, 30 * 24 * 3_600_000);
    await insert(live, 60_000);
    await insert(live, -3_600_000); // not due yet
    await insert(paused, 60 * 24 * 3_600_000); // held: its flow is paused
    const g = await readDbGauges(env.db, now, now);
    expect(g.flowDueRuns - before.flowDueRuns).toBe(2);
    expect(g.flowDueOldestAgeSeconds).toBe(30 * 24 * 3_600);
    setDbGauges(deps.metrics, g);
    const text = await deps.metrics.registry.metrics();
    expect(text).toContain(`flow_due_runs ${g.flowDueRuns}`);
    expect(text).toContain(`flow_due_runs_oldest_age_seconds ${30 * 24 * 3_600}`);
    // Reconciliation refreshes them too.
    await runReconciliation({ ...deps, now: () => now });
    expect((await deps.metrics.flowDueOldestAge.get()).values[0]?.value).toBe(30 * 24 * 3_600);
    await env.db.$executeRaw`DELETE FROM flow_runs WHERE shop_id = ${shop.id}::uuid`;
  });
});
