import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createContact, createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { claimDueRuns } from '../../domain/flows/claim-due-runs';
import { executeFlowStep } from '../../domain/flows/execute-flow-step';
import { startFlowRuns } from '../../domain/flows/start-flow-runs';
import { uninstallShop } from '../../domain/shops/uninstall-shop';
import { testFlow } from '../../domain/flows/test-flow';
import { UNGUARDED } from '../../domain/idempotency/guard';
import { stepsSchema } from '../../domain/flows/flow-input';
import { applyInboundKeyword } from '../../domain/compliance/apply-inbound-keyword';
import { phoneHmac, shopScope } from '../../domain/compliance/suppressions';
import { phoneHash } from '../../domain/contacts/phone';
import { upsertSchedulers } from '../../apps/worker/src/schedulers';
import { SCHEDULER_IDS } from '../../queue/job-ids';

// The due-run scheduler and the step executor (issue 17 item 3, waits,
// conditions and exits): claims are exclusive and bounded, each step moves a
// run once, exit conditions come first. The clock is passed in (`now`), so a
// day's wait is crossed without sleeping.

interface RunRow {
  status: string;
  exit_reason: string | null;
  current_step: number;
  next_due_at: Date | null;
  claim_token: string | null;
  attempt: number;
}

describe('flow execution', () => {
  let env: TestEnv;
  let app: Express;

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
  });
  afterAll(async () => {
    await env.close();
  });

  const post = async (shop: ShopFixture, path: string, body: object = {}) =>
    request(app).post(path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).set('Idempotency-Key', randomUUID()).send(body);
  const patch = async (shop: ShopFixture, path: string, body: object) =>
    request(app).patch(path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).send(body);

  async function liveFlow(shop: ShopFixture, body: object): Promise<{ id: string; versionId: string }> {
    const created = await post(shop, '/api/flows', body);
    expect(created.status).toBe(201);
    expect((await post(shop, `/api/flows/${created.body.id}/activate`)).status).toBe(200);
    return { id: created.body.id, versionId: created.body.currentVersion.id };
  }

  async function startRun(
    shop: ShopFixture, flow: { id: string; versionId: string }, steps: object[], contactId: string, at: Date,
    o: { trigger?: 'order_created' | 'checkout_abandoned'; subject?: string; baseAt?: Date } = {},
  ): Promise<string> {
    const runs = await env.db.$transaction((tx) =>
      startFlowRuns(tx, {
        shopId: shop.id, triggerType: o.trigger ?? 'order_created', shopTimezone: 'UTC', traceId: 'test', requireLive: true,
        flows: [{ id: flow.id, versionId: flow.versionId, steps: stepsSchema.parse(steps) }],
        candidates: [{ contactId, subject: o.subject ?? `o-${randomUUID()}`, triggeredAt: at, baseAt: o.baseAt ?? at, phone: null, timezone: 'UTC' }],
      }),
    );
    expect(runs).toHaveLength(1);
    return runs[0]!.id;
  }

  const run = async (id: string): Promise<RunRow> => {
    const [r] = await env.db.$queryRaw<RunRow[]>`SELECT status, exit_reason, current_step, next_due_at, claim_token::text, attempt FROM flow_runs WHERE id = ${id}::bigint`;
    return r!;
  };

  /** One scheduler tick at `now` for the runs given (other tests' runs may be claimed too: they are executed as the worker would). */
  async function tick(now: Date, only: string[]): Promise<string[]> {
    const claim = await claimDueRuns(env.db, { now, limit: 1000, leaseMs: 60_000 });
    const kinds: string[] = [];
    for (const id of claim.runIds) {
      const outcome = await executeFlowStep(env.db, { runId: id, claimToken: claim.claimToken, now });
      if (only.includes(id)) kinds.push(outcome.kind);
    }
    return kinds;
  }

  const steps = [
    { type: 'condition', check: { kind: 'consent', is: 'subscribed' } },
    { type: 'wait', duration: { amount: 1, unit: 'days' } },
    { type: 'condition', check: { kind: 'tag', tag: 'vip', is: true }, otherwise: { goTo: 4 } },
    { type: 'wait', duration: { amount: 2, unit: 'hours' } },
    { type: 'send', body: 'Hello from {{shopName}}' },
  ];

  it('walks waits and conditions in order, once per claim, and holds at a send step without a provider', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id, { tags: [] });
    const flow = await liveFlow(shop, { name: 'Post purchase', trigger: { type: 'order_created' }, steps });
    const t0 = new Date(Date.UTC(2026, 11, 1, 12));
    const id = await startRun(shop, flow, steps, contact.id, t0);
    expect(await run(id)).toMatchObject({ current_step: 0, status: 'active' });

    expect(await tick(t0, [id])).toEqual(['advanced']); // condition holds → step 1 due now
    expect(await run(id)).toMatchObject({ current_step: 1, next_due_at: t0, claim_token: null, attempt: 1 });
    expect(await tick(t0, [id])).toEqual(['advanced']); // wait a day
    const day = new Date(t0.getTime() + 24 * 3600_000);
    expect(await run(id)).toMatchObject({ current_step: 2, next_due_at: day });
    expect(await tick(new Date(day.getTime() - 1000), [id])).toEqual([]); // not due yet
    expect(await tick(day, [id])).toEqual(['advanced']); // not a VIP → jumps over the 2 h wait to the send
    expect(await run(id)).toMatchObject({ current_step: 4, next_due_at: day, status: 'active' });
    // Without a provider to send through (sending is test/flows/flow-send.int.test.ts), the send step is held: the run keeps its place.
    expect(await tick(new Date(day.getTime() + 3600_000), [id])).toEqual(['held']);
    expect(await run(id)).toMatchObject({ current_step: 4, status: 'active', claim_token: null, attempt: 4, next_due_at: day });
    // Paused, so later ticks of this file leave it alone.
    expect((await post(shop, `/api/flows/${flow.id}/pause`)).status).toBe(200);
  });

  it('a claim is exclusive, a stale or repeated step job moves nothing, and an expired lease is claimed again', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id);
    const flow = await liveFlow(shop, { name: 'Post purchase', trigger: { type: 'order_created' }, steps });
    const t0 = new Date(Date.UTC(2026, 11, 2, 12));
    const id = await startRun(shop, flow, steps, contact.id, t0);

    const first = await claimDueRuns(env.db, { now: t0, limit: 1000, leaseMs: 60_000 });
    expect(first.runIds).toContain(id);
    const second = await claimDueRuns(env.db, { now: t0, limit: 1000, leaseMs: 60_000 });
    expect(second.runIds).not.toContain(id); // leased
    // The worker died: after the lease, a new claim (new token, attempt 2).
    const later = new Date(t0.getTime() + 61_000);
    const third = await claimDueRuns(env.db, { now: later, limit: 1000, leaseMs: 60_000 });
    expect(third.runIds).toContain(id);
    expect(await executeFlowStep(env.db, { runId: id, claimToken: first.claimToken, now: later })).toEqual({ kind: 'lost' });
    expect(await executeFlowStep(env.db, { runId: id, claimToken: third.claimToken, now: later })).toMatchObject({ kind: 'advanced', step: 1 });
    expect(await executeFlowStep(env.db, { runId: id, claimToken: third.claimToken, now: later })).toEqual({ kind: 'lost' }); // the job retried
    expect(await run(id)).toMatchObject({ current_step: 1, attempt: 2, claim_token: null });
  });

  it('claims in bounded batches', async () => {
    const shop = await createShop(env.db);
    const flow = await liveFlow(shop, { name: 'Post purchase', trigger: { type: 'order_created' }, steps });
    const t0 = new Date(Date.UTC(2026, 11, 3, 12));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await startRun(shop, flow, steps, (await createContact(env.db, shop.id)).id, t0));
    const a = await claimDueRuns(env.db, { now: t0, limit: 3, leaseMs: 60_000 });
    const b = await claimDueRuns(env.db, { now: t0, limit: 3, leaseMs: 60_000 });
    expect(a.runIds).toHaveLength(3);
    expect(a.runIds.filter((r) => b.runIds.includes(r))).toEqual([]);
    expect([...a.runIds, ...b.runIds].filter((r) => ids.includes(r)).sort()).toEqual([...ids].sort());
    expect(a.lagSeconds).toBeGreaterThanOrEqual(0);
  });

  it('a claim after another of the same tick starts past its last run; a run it passes over is taken by a claim from the start', async () => {
    const shop = await createShop(env.db);
    const flow = await liveFlow(shop, { name: 'Post purchase', trigger: { type: 'order_created' }, steps });
    const t0 = new Date(Date.UTC(2026, 0, 5, 13)); // before every other run of this file: the claims see only these
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await startRun(shop, flow, steps, (await createContact(env.db, shop.id)).id, new Date(t0.getTime() + (i % 2) * 1_000)));
    const a = await claimDueRuns(env.db, { now: new Date(t0.getTime() + 2_000), limit: 2, leaseMs: 60_000 });
    expect(a.last).not.toBeNull();
    const b = await claimDueRuns(env.db, { now: new Date(t0.getTime() + 2_000), limit: 2, leaseMs: 60_000, after: a.last });
    const c = await claimDueRuns(env.db, { now: new Date(t0.getTime() + 2_000), limit: 2, leaseMs: 60_000, after: b.last });
    const order = (await env.db.$queryRaw<{ id: string }[]>`
      SELECT id::text AS id FROM flow_runs r WHERE r.id = ANY(${ids}::bigint[]) ORDER BY r.next_due_at, r.id`).map((o) => o.id);
    // A claim's runs in due order (its UPDATE returns them in no particular order).
    const mine = (r: string[]): string[] => r.filter((id) => ids.includes(id)).sort((x, y) => order.indexOf(x) - order.indexOf(y));
    // Three claims, one after the other in due order, each run once.
    expect([...mine(a.runIds), ...mine(b.runIds), ...mine(c.runIds)]).toEqual(order);
    expect(await claimDueRuns(env.db, { now: new Date(t0.getTime() + 2_000), limit: 2, leaseMs: 60_000, after: c.last })).toMatchObject({ runIds: [], last: null });
    // The first of a's runs comes back (its lease ran out): behind every cursor of the tick, taken by the next tick's first claim.
    await env.db.$executeRaw`UPDATE flow_runs SET lease_until = ${t0}::timestamptz WHERE id = ${order[0]}::bigint`;
    expect((await claimDueRuns(env.db, { now: new Date(t0.getTime() + 2_000), limit: 2, leaseMs: 60_000, after: c.last })).runIds).toEqual([]);
    expect(mine((await claimDueRuns(env.db, { now: new Date(t0.getTime() + 2_000), limit: 2, leaseMs: 60_000 })).runIds)).toEqual([order[0]]);
  });

  it('exits before any step: opted out, erased, an order placed since the trigger; a failed condition exits', async () => {
    const shop = await createShop(env.db);
    const flow = await liveFlow(shop, { name: 'Post purchase', trigger: { type: 'order_created' }, exitCondition: { orderPlaced: true }, steps });
    const t0 = new Date(Date.UTC(2026, 11, 4, 12));
    const optedOut = await createContact(env.db, shop.id);
    const erased = await createContact(env.db, shop.id);
    const ordered = await createContact(env.db, shop.id);
    const pending = await createContact(env.db, shop.id);
    const runs = {
      optedOut: await startRun(shop, flow, steps, optedOut.id, t0),
      erased: await startRun(shop, flow, steps, erased.id, t0),
      ordered: await startRun(shop, flow, steps, ordered.id, t0),
      pending: await startRun(shop, flow, steps, pending.id, t0),
    };
    await env.db.$executeRaw`UPDATE contacts SET opted_out_at = now(), opt_out_source = 'keyword', sms_consent = 'unsubscribed' WHERE id = ${optedOut.id}::uuid`;
    await env.db.$executeRaw`UPDATE contacts SET erased_at = now(), phone_e164 = NULL, email = NULL, first_name = NULL, last_name = NULL WHERE id = ${erased.id}::uuid`;
    await env.db.$executeRaw`
      INSERT INTO shopify_orders (shop_id, order_id, contact_id, total_minor, currency, ordered_at)
      VALUES (${shop.id}::uuid, ${`o-${randomUUID()}`}, ${ordered.id}::uuid, 1000, 'USD', ${new Date(t0.getTime() + 1000)}::timestamptz)`;
    await env.db.$executeRaw`UPDATE contacts SET sms_consent = 'pending' WHERE id = ${pending.id}::uuid`;
    // Opt-outs and erasures end runs at once (the contacts trigger); the executor checks again before any step.
    expect(await run(runs.optedOut)).toMatchObject({ status: 'exited', exit_reason: 'opted_out', next_due_at: null });
    expect(await run(runs.erased)).toMatchObject({ status: 'exited', exit_reason: 'contact_erased' });
    await tick(new Date(t0.getTime() + 5000), Object.values(runs));
    expect(await run(runs.ordered)).toMatchObject({ status: 'exited', exit_reason: 'order_placed' });
    expect(await run(runs.pending)).toMatchObject({ status: 'exited', exit_reason: 'condition' });
  });

  it('abandoned checkout: an order or the checkout completed before the message ends the run; otherwise it goes on', async () => {
    const shop = await createShop(env.db);
    const checkoutSteps = [{ type: 'condition', check: { kind: 'consent', is: 'subscribed' } }, { type: 'send', body: 'Forgot something? {{checkoutUrl}}' }];
    const flow = await liveFlow(shop, { name: 'Abandoned', trigger: { type: 'checkout_abandoned', delayMinutes: 60 }, steps: checkoutSteps });
    const t0 = new Date(Date.UTC(2026, 11, 7, 12));
    const runs: Record<string, string> = {};
    const contacts: Record<string, string> = {};
    for (const k of ['ordered', 'completed', 'idle']) {
      contacts[k] = (await createContact(env.db, shop.id)).id;
      const token = `tok-${randomUUID()}`;
      await env.db.$executeRaw`
        INSERT INTO shopify_checkouts (shop_id, token, contact_id, abandoned_checkout_url, shopify_updated_at)
        VALUES (${shop.id}::uuid, ${token}, ${contacts[k]}::uuid, 'https://shop.example/recover', ${t0}::timestamptz)`;
      runs[k] = await startRun(shop, flow, checkoutSteps, contacts[k]!, t0, { trigger: 'checkout_abandoned', subject: token, baseAt: new Date(t0.getTime() + 3600_000) });
      if (k === 'completed') await env.db.$executeRaw`UPDATE shopify_checkouts SET completed_at = ${new Date(t0.getTime() + 60_000)}::timestamptz WHERE shop_id = ${shop.id}::uuid AND token = ${token}`;
    }
    await env.db.$executeRaw`
      INSERT INTO shopify_orders (shop_id, order_id, contact_id, total_minor, currency, ordered_at)
      VALUES (${shop.id}::uuid, ${`o-${randomUUID()}`}, ${contacts.ordered}::uuid, 1000, 'USD', ${new Date(t0.getTime() + 30 * 60_000)}::timestamptz)`;
    // The first step is due an hour after the checkout's last update (the trigger's delay).
    const due = new Date(t0.getTime() + 3600_000);
    expect(await tick(new Date(due.getTime() - 1000), Object.values(runs))).toEqual([]);
    await tick(due, Object.values(runs));
    expect(await run(runs.ordered!)).toMatchObject({ status: 'exited', exit_reason: 'order_placed' });
    expect(await run(runs.completed!)).toMatchObject({ status: 'exited', exit_reason: 'order_placed' });
    expect(await run(runs.idle!)).toMatchObject({ status: 'active', current_step: 1 });
  });

  it('a test order or a cancelled order since the trigger is no purchase: the run goes on, an abandoned-checkout message is still due', async () => {
    const shop = await createShop(env.db);
    const waitSteps = [{ type: 'wait', duration: { amount: 1, unit: 'days' } }, { type: 'send', body: 'Hi' }];
    const exiting = await liveFlow(shop, { name: 'Post purchase', trigger: { type: 'order_created' }, exitCondition: { orderPlaced: true }, steps: waitSteps });
    const conditionSteps = [{ type: 'condition', check: { kind: 'hasOrderedSinceTrigger', is: false } }, ...waitSteps];
    const conditional = await liveFlow(shop, { name: 'Bought again?', trigger: { type: 'order_created' }, exitCondition: { orderPlaced: false }, steps: conditionSteps });
    const checkoutSteps = [{ type: 'condition', check: { kind: 'consent', is: 'subscribed' } }, { type: 'send', body: 'Forgot something? {{checkoutUrl}}' }];
    const cart = await liveFlow(shop, { name: 'Abandoned', trigger: { type: 'checkout_abandoned', delayMinutes: 60 }, steps: checkoutSteps });
    const t0 = new Date(Date.UTC(2026, 11, 8, 12));
    const runs: Record<string, { exiting: string; conditional: string; cart: string }> = {};
    for (const k of ['test', 'cancelled', 'purchase']) {
      const contact = await createContact(env.db, shop.id);
      const token = `tok-${randomUUID()}`;
      await env.db.$executeRaw`
        INSERT INTO shopify_checkouts (shop_id, token, contact_id, abandoned_checkout_url, shopify_updated_at)
        VALUES (${shop.id}::uuid, ${token}, ${contact.id}::uuid, 'https://shop.example/recover', ${t0}::timestamptz)`;
      runs[k] = {
        exiting: await startRun(shop, exiting, waitSteps, contact.id, t0),
        conditional: await startRun(shop, conditional, conditionSteps, contact.id, t0),
        cart: await startRun(shop, cart, checkoutSteps, contact.id, t0, { trigger: 'checkout_abandoned', subject: token, baseAt: new Date(t0.getTime() + 3600_000) }),
      };
      // The contact's order after every trigger: placed through a test gateway, cancelled since, or a purchase.
      await env.db.$executeRaw`
        INSERT INTO shopify_orders (shop_id, order_id, contact_id, total_minor, currency, ordered_at, test, cancelled_at)
        VALUES (${shop.id}::uuid, ${`o-${randomUUID()}`}, ${contact.id}::uuid, 1000, 'USD', ${new Date(t0.getTime() + 1000)}::timestamptz,
                ${k === 'test'}, ${k === 'cancelled' ? new Date(t0.getTime() + 2000) : null}::timestamptz)`;
    }
    const all = Object.values(runs).flatMap((r) => Object.values(r));
    // A day later every post-purchase run is at its send step, or exited; an hour after the checkout every cart run is.
    await tick(new Date(t0.getTime() + 5000), all);
    await tick(new Date(t0.getTime() + 3600_000), all);
    await tick(new Date(t0.getTime() + 86_400_000 + 5000), all);
    for (const k of ['test', 'cancelled']) {
      expect(await run(runs[k]!.exiting)).toMatchObject({ status: 'active', current_step: 1 });
      expect(await run(runs[k]!.conditional)).toMatchObject({ status: 'active', current_step: 2 });
      expect(await run(runs[k]!.cart)).toMatchObject({ status: 'active', current_step: 1 });
    }
    expect(await run(runs.purchase!.exiting)).toMatchObject({ status: 'exited', exit_reason: 'order_placed' });
    expect(await run(runs.purchase!.conditional)).toMatchObject({ status: 'exited', exit_reason: 'condition' });
    expect(await run(runs.purchase!.cart)).toMatchObject({ status: 'exited', exit_reason: 'order_placed' });
  });

  it('STOP mid-flow ends every active run of the contact in the STOP transaction, even one being executed', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id);
    const other = await createContact(env.db, shop.id);
    const a = await liveFlow(shop, { name: 'Post purchase A', trigger: { type: 'order_created' }, steps });
    const b = await liveFlow(shop, { name: 'Post purchase B', trigger: { type: 'order_created' }, steps });
    const t0 = new Date(Date.UTC(2026, 11, 6, 12));
    const inA = await startRun(shop, a, steps, contact.id, t0);
    const inB = await startRun(shop, b, steps, contact.id, t0);
    const others = await startRun(shop, a, steps, other.id, t0);
    await tick(t0, [inA]); // A now waits at step 1
    const claim = await claimDueRuns(env.db, { now: t0, limit: 1000, leaseMs: 60_000 }); // B claimed, its step job not run yet
    expect(claim.runIds).toContain(inB);
    const changed = await env.db.$transaction((tx) =>
      applyInboundKeyword(tx, { keyword: 'STOP', fromHash: phoneHash(contact.phone), fromHmac: phoneHmac(env.config.PHONE_HASH_KEY, contact.phone), route: { kind: 'owned', shopId: shop.id, scope: shopScope(shop.id) }, at: t0 }),
    );
    expect(changed).toBeGreaterThan(0);
    expect(await run(inA)).toMatchObject({ status: 'exited', exit_reason: 'opted_out', next_due_at: null, claim_token: null });
    expect(await run(inB)).toMatchObject({ status: 'exited', exit_reason: 'opted_out', claim_token: null });
    expect(await executeFlowStep(env.db, { runId: inB, claimToken: claim.claimToken, now: t0 })).toEqual({ kind: 'lost' });
    expect((await run(others)).status).toBe('active');
    // Subscribing again does not bring an ended run back.
    await env.db.$executeRaw`UPDATE contacts SET opted_out_at = NULL, opt_out_source = NULL, sms_consent = 'subscribed' WHERE id = ${contact.id}::uuid`;
    expect(await run(inA)).toMatchObject({ status: 'exited' });
    // An erasure ends runs as contact_erased.
    await env.db.$executeRaw`UPDATE contacts SET erased_at = now(), phone_e164 = NULL, email = NULL, first_name = NULL, last_name = NULL WHERE id = ${other.id}::uuid`;
    expect(await run(others)).toMatchObject({ status: 'exited', exit_reason: 'contact_erased' });
  });

  it('a paused flow holds its runs at their due time; a live edit leaves runs on their version', async () => {
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id);
    const flow = await liveFlow(shop, { name: 'Post purchase', trigger: { type: 'order_created' }, steps });
    const t0 = new Date(Date.UTC(2026, 11, 5, 12));
    const id = await startRun(shop, flow, steps, contact.id, t0);
    expect((await post(shop, `/api/flows/${flow.id}/pause`)).status).toBe(200);
    expect(await tick(t0, [id])).toEqual([]);
    expect((await post(shop, `/api/flows/${flow.id}/activate`)).status).toBe(200);
    // The edit makes the flow a 3-day wait and a send; the run still walks its own version (a condition, then a day).
    expect((await patch(shop, `/api/flows/${flow.id}`, { steps: [{ type: 'wait', duration: { amount: 3, unit: 'days' } }, steps[4]] })).status).toBe(200);
    expect(await tick(t0, [id])).toEqual(['advanced']);
    expect(await tick(t0, [id])).toEqual(['advanced']);
    expect(await run(id)).toMatchObject({ current_step: 2, next_due_at: new Date(t0.getTime() + 24 * 3600_000) });
  });

  it('an uninstalled shop sends nothing more: its live flows are paused, and none of its runs is claimed, test runs included', async () => {
    const t0 = new Date(Date.UTC(2026, 11, 6, 12));
    const gone = await createShop(env.db);
    const kept = await createShop(env.db);
    const flow = await liveFlow(gone, { name: 'Welcome', trigger: { type: 'order_created' }, steps });
    const other = await liveFlow(kept, { name: 'Welcome', trigger: { type: 'order_created' }, steps });
    const held = await startRun(gone, flow, steps, (await createContact(env.db, gone.id)).id, t0);
    const tester = await createContact(env.db, gone.id);
    const [manual] = await env.db.$transaction((tx) =>
      startFlowRuns(tx, {
        shopId: gone.id, triggerType: 'manual', shopTimezone: 'UTC', traceId: 'test', requireLive: false,
        flows: [{ id: flow.id, versionId: flow.versionId, steps: stepsSchema.parse(steps) }],
        candidates: [{ contactId: tester.id, subject: `t-${randomUUID()}`, triggeredAt: t0, baseAt: t0, phone: null, timezone: 'UTC' }],
      }),
    );
    const control = await startRun(kept, other, steps, (await createContact(env.db, kept.id)).id, t0);

    await uninstallShop(env.db, gone.id, t0);

    const [f] = await env.db.$queryRaw<{ status: string }[]>`SELECT status FROM flows WHERE id = ${flow.id}::uuid`;
    expect(f!.status).toBe('paused');
    expect(await tick(t0, [held, manual!.id])).toEqual([]);
    expect(await run(held)).toMatchObject({ status: 'active', current_step: 0, claim_token: null, attempt: 0 });
    // The merchant's test run ends with the install (a re-install must not resume it: the next test shows why).
    expect(await run(manual!.id)).toMatchObject({ status: 'exited', exit_reason: 'shop_uninstalled', next_due_at: null, claim_token: null, attempt: 0 });
    // Another shop's run of the same tick goes on.
    expect(await tick(t0, [control])).toEqual(['advanced']);
  });

  it("a re-installed shop's flows stay paused, and neither their runs nor the test runs the uninstall held text anyone", async () => {
    const t0 = new Date(Date.UTC(2026, 11, 7, 12));
    const shop = await createShop(env.db);
    // A draft under test (the usual case) and a live flow, each with a test run mid-wait when the app is uninstalled.
    const draft = await post(shop, '/api/flows', { name: 'Draft', trigger: { type: 'order_created' }, steps });
    expect(draft.status).toBe(201);
    const live = await liveFlow(shop, { name: 'Live', trigger: { type: 'order_created' }, steps });
    const testRun = async (flowId: string): Promise<string> => {
      const r = await post(shop, `/api/flows/${flowId}/test`, { contactId: (await createContact(env.db, shop.id)).id });
      expect(r.status).toBe(201);
      return r.body.id as string;
    };
    const tests = [await testRun(draft.body.id), await testRun(live.id)];
    const triggered = await startRun(shop, live, steps, (await createContact(env.db, shop.id)).id, t0);

    await uninstallShop(env.db, shop.id, t0);
    // A test request authenticated before the uninstall committed starts nothing after it.
    await expect(
      testFlow(env.db, { shopId: shop.id, flowId: draft.body.id, contactId: (await createContact(env.db, shop.id)).id, requestId: 'late', guard: UNGUARDED, now: t0 }),
    ).rejects.toMatchObject({ code: 'INVALID_STATE', details: { status: 'uninstalled' } });
    // Re-installed as the token exchange does it (domain/shops/access-token/exchange-token.ts).
    await env.db.$executeRaw`UPDATE shops SET status = 'active', uninstalled_at = NULL, installed_at = now(), updated_at = now() WHERE id = ${shop.id}::uuid`;

    // Days later, every run would be due: none is claimed, none moves.
    const later = new Date(Date.now() + 3 * 24 * 3600_000);
    expect(await tick(later, [...tests, triggered])).toEqual([]);
    for (const id of tests) expect(await run(id)).toMatchObject({ status: 'exited', exit_reason: 'shop_uninstalled', attempt: 0 });
    expect(await run(triggered)).toMatchObject({ status: 'active', current_step: 0, attempt: 0 });
    // A test the merchant starts after the re-install goes on as any test does.
    const fresh = await testRun(draft.body.id);
    expect(await tick(later, [fresh])).toEqual(['advanced']);
    await env.db.$executeRaw`UPDATE flows SET status = 'paused' WHERE shop_id = ${shop.id}::uuid`;
  });

  it('the worker runs the scheduler job: a due condition advances to the send step', async () => {
    const { deps } = await env.worker({ queues: ['flows'] });
    const shop = await createShop(env.db);
    const contact = await createContact(env.db, shop.id);
    const flow = await liveFlow(shop, { name: 'Post purchase', trigger: { type: 'order_created' }, steps: [steps[0]!, steps[4]!] });
    const id = await startRun(shop, flow, [steps[0]!, steps[4]!], contact.id, new Date(Date.now() - 1000));
    await deps.producer.add('flows.due.v1', { traceId: 'test' }, { jobId: `flows-due-test-${randomUUID()}` });
    await waitFor('the run advanced', async () => (await run(id)).current_step === 1);
    expect(await run(id)).toMatchObject({ status: 'active', current_step: 1, claim_token: null });
    const lag = await deps.metrics.registry.getSingleMetricAsString('flow_due_run_lag_seconds');
    expect(lag).toMatch(/flow_due_run_lag_seconds_count [1-9]/);
    expect(await deps.metrics.registry.getSingleMetricAsString('flow_steps_total')).toMatch(/outcome="advanced"} [1-9]/);
  });

  it('every worker upserts the one due-run scheduler (every 250 ms) on the flows queue', async () => {
    const deps = env.workerDeps();
    await upsertSchedulers(deps.queues, env.config);
    await upsertSchedulers(deps.queues, env.config);
    const schedulers = await deps.queues.get('flows').getJobSchedulers();
    expect(schedulers.map((s) => [s.key, s.every])).toEqual([[SCHEDULER_IDS.flowsDue, 250]]);
  });
});
