import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createContact, createShop, grantCredits, testPhone, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { moneyState, queuedCampaign, sentSegments, simulatorProvider, startSimulator, waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { postShopify, postSimulator, reportHolders, rid } from '../webhooks';
import { startWorkerProcess } from '../worker-process';
import { killGroup } from '../../scripts/lib/stack';
import type { SimulatorHandle } from '../../apps/sms-simulator/src/simulator';
import { upsertSchedulers } from '../../apps/worker/src/schedulers';
import { claimDueRuns } from '../../domain/flows/claim-due-runs';
import { executeFlowStep, type StepOutcome } from '../../domain/flows/execute-flow-step';
import { startFlowRuns } from '../../domain/flows/start-flow-runs';
import { stepsSchema } from '../../domain/flows/flow-input';
import type { FlowSendDeps } from '../../domain/flows/send-flow-message';
import { applyInboundKeyword } from '../../domain/compliance/apply-inbound-keyword';
import { phoneHmac, shopScope } from '../../domain/compliance/suppressions';
import { phoneHash } from '../../domain/contacts/phone';
import { applyDeliveryReports } from '../../domain/webhooks/apply-delivery-reports';
import { processWebhookEvent } from '../../domain/webhooks/process-event';
import { ProviderUnavailableError, type OutboundMessage, type SmsProvider } from '../../domain/messaging/providers/provider';
import { launchCampaign } from '../../domain/campaigns/launch-campaign';
import { sendBatch } from '../../domain/campaigns/send-batch';
import { createMetrics } from '../../lib/metrics';
import { createWorkerRedis } from '../../lib/redis';
import { recordingProvider } from './send-kit';

// The flow send step (issue 17 item 3): through the campaigns' provider
// adapter (the simulator at its HTTP boundary), credits ledger and delivery
// report path, under consent, quiet hours and smart sending. The clock is
// passed in (`now`), so waits and quiet hours are crossed without sleeping;
// the kill and Redis tests run real workers on real time.

interface MessageRow {
  id: string;
  step: number;
  status: string;
  skip_reason: string | null;
  segments: number | null;
  credits: number;
  provider_message_id: string | null;
  body: string | null;
  delivered_at: Date | null;
}

describe('flow send step', () => {
  let env: TestEnv;
  let app: Express;
  let sim: SimulatorHandle;
  let simUrl: string;
  /** What the provider was asked to send, in order (the recording wrapper around the simulator adapter). */
  const sent: OutboundMessage[] = [];

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    ({ sim, url: simUrl } = await startSimulator({ dedupsByReference: false }));
  });
  afterAll(async () => {
    await sim.stop();
    await env.close();
  });

  const metrics = createMetrics();
  const sendDeps = (o: Partial<FlowSendDeps> & { dedups?: boolean } = {}): FlowSendDeps => ({
    provider: recordingProvider(simulatorProvider(simUrl, { dedupsByReference: o.dedups ?? false }), sent),
    phoneHashKey: env.config.PHONE_HASH_KEY,
    leaseMs: 60_000,
    quietHoursFloor: true,
    metrics,
    ...o,
  });

  const auth = async (shop: ShopFixture) => `Bearer ${await sessionToken(shop.domain)}`;
  const post = async (shop: ShopFixture, path: string, body: object = {}) =>
    request(app).post(path).set('Authorization', await auth(shop)).set('Idempotency-Key', randomUUID()).send(body);
  const patch = async (shop: ShopFixture, path: string, body: object) => request(app).patch(path).set('Authorization', await auth(shop)).send(body);

  /** A shop with credits, its quiet hours off and smart sending off unless a test wants them. */
  async function shopFor(o: { credits?: number; smartSending?: boolean; quiet?: [string, string] } = {}): Promise<ShopFixture> {
    const shop = await createShop(env.db, { credits: o.credits ?? 1_000 });
    const [start, end] = o.quiet ?? ['00:00', '00:00'];
    await env.db.$executeRaw`
      UPDATE shops SET quiet_hours_start = ${start}, quiet_hours_end = ${end}, smart_sending_enabled = ${o.smartSending ?? false}, name = 'Acme'
       WHERE id = ${shop.id}::uuid`;
    return shop;
  }

  async function liveFlow(shop: ShopFixture, body: object): Promise<{ id: string; versionId: string; steps: object[] }> {
    const created = await post(shop, '/api/flows', body);
    expect(created.status).toBe(201);
    expect((await post(shop, `/api/flows/${created.body.id}/activate`)).status).toBe(200);
    return { id: created.body.id, versionId: created.body.currentVersion.id, steps: (body as { steps: object[] }).steps };
  }

  async function startRun(
    shop: ShopFixture, flow: { id: string; versionId: string; steps: object[] }, contactId: string, at: Date,
    o: { trigger?: 'order_created' | 'checkout_abandoned' | 'contact_subscribed'; subject?: string; baseAt?: Date } = {},
  ): Promise<string> {
    const runs = await env.db.$transaction((tx) =>
      startFlowRuns(tx, {
        shopId: shop.id, triggerType: o.trigger ?? 'order_created', shopTimezone: 'UTC', traceId: 'test', requireLive: true,
        flows: [{ id: flow.id, versionId: flow.versionId, steps: stepsSchema.parse(flow.steps) }],
        candidates: [{ contactId, subject: o.subject ?? `o-${randomUUID()}`, triggeredAt: at, baseAt: o.baseAt ?? at, phone: null, timezone: null }],
      }),
    );
    expect(runs).toHaveLength(1);
    return runs[0]!.id;
  }

  const run = async (id: string) => {
    const [r] = await env.db.$queryRaw<{ status: string; exit_reason: string | null; current_step: number; next_due_at: Date | null; claim_token: string | null }[]>`
      SELECT status, exit_reason, current_step, next_due_at, claim_token::text FROM flow_runs WHERE id = ${id}::bigint`;
    return r!;
  };
  const messages = (runId: string) =>
    env.db.$queryRaw<MessageRow[]>`
      SELECT id::text, step, status, skip_reason, segments, credits, provider_message_id, body, delivered_at
        FROM flow_messages WHERE run_id = ${runId}::bigint ORDER BY step`;
  const textsTo = (phone: string) => sent.filter((m) => m.to === phone).map((m) => m.text);

  /** One scheduler tick at `now`: every run it claims is executed as the worker would; the outcomes of `only` are returned. */
  async function tick(now: Date, only: string[], deps: FlowSendDeps = sendDeps()): Promise<StepOutcome[]> {
    const claim = await claimDueRuns(env.db, { now, limit: 1000, leaseMs: 60_000 });
    const out: StepOutcome[] = [];
    for (const id of claim.runIds) {
      const outcome = await executeFlowStep(env.db, { runId: id, claimToken: claim.claimToken, now, send: deps });
      if (only.includes(id)) out.push(outcome);
    }
    return out;
  }
  const ledgerDebits = async (shopId: string) => {
    const [r] = await env.db.$queryRaw<{ flow: bigint | null; all: bigint | null }[]>`
      SELECT -sum(amount) FILTER (WHERE type = 'debit' AND reference LIKE 'flow:%') AS flow, -sum(amount) FILTER (WHERE type = 'debit') AS all
        FROM credit_transactions WHERE shop_id = ${shopId}::uuid`;
    return { flow: Number(r?.flow ?? 0), all: Number(r?.all ?? 0) };
  };

  const hour = 3_600_000;
  const welcome = [
    { type: 'send', body: 'Welcome to {{shopName}}, {{firstName}}!' },
    { type: 'wait', duration: { amount: 1, unit: 'days' } },
    { type: 'send', body: 'Day two: {{discountCode}} takes 10% off', discountCode: 'WELCOME10' },
  ];

  it('a welcome series sends its steps in order, each once, debits their segments and completes', async () => {
    const shop = await shopFor();
    const contact = await createContact(env.db, shop.id, { firstName: 'Ada' });
    const flow = await liveFlow(shop, { name: 'Welcome', trigger: { type: 'contact_subscribed' }, steps: welcome });
    // 16:00 UTC is 11:00 in New Jersey, the test numbers' zone: inside the legal window.
    const t0 = new Date(Date.UTC(2026, 11, 1, 16));
    const id = await startRun(shop, flow, contact.id, t0, { trigger: 'contact_subscribed', subject: randomUUID() });

    expect(await tick(t0, [id])).toMatchObject([{ kind: 'advanced', step: 1, message: 'sent' }]);
    expect(await tick(t0, [id])).toMatchObject([{ kind: 'advanced', step: 2 }]); // the day's wait
    expect(await tick(new Date(t0.getTime() + 23 * hour), [id])).toEqual([]);
    const day = new Date(t0.getTime() + 24 * hour);
    expect(await tick(day, [id])).toMatchObject([{ kind: 'completed', message: 'sent' }]);
    expect(await tick(new Date(day.getTime() + 48 * hour), [id])).toEqual([]);

    expect(textsTo(contact.phone)).toEqual(['Welcome to Acme, Ada!\nReply STOP to opt out', 'Day two: WELCOME10 takes 10% off\nReply STOP to opt out']);
    const rows = await messages(id);
    expect(rows.map((m) => [m.step, m.status, m.body])).toEqual([[0, 'sent', null], [2, 'sent', null]]);
    for (const m of rows) expect(sim.referenceStats(`f${m.id}`).sends).toBe(1);
    expect(await run(id)).toMatchObject({ status: 'completed', next_due_at: null });
    // Credits debited = segments sent; the one-message path writes a ledger row per message.
    const segments = rows.reduce((s, m) => s + (m.segments ?? 0), 0);
    expect(rows.map((m) => m.credits)).toEqual(rows.map((m) => m.segments));
    expect(await ledgerDebits(shop.id)).toEqual({ flow: segments, all: segments });
    const [keys] = await env.db.$queryRaw<{ keys: string[] }[]>`
      SELECT array_agg(idempotency_key ORDER BY idempotency_key) AS keys FROM credit_transactions WHERE shop_id = ${shop.id}::uuid AND type = 'debit'`;
    expect(keys!.keys).toEqual(rows.map((m) => `flow-msg-${m.id}`).sort());
  });

  it('abandoned checkout: the message with the checkout link after the delay, none when an order came first', async () => {
    const shop = await shopFor();
    const steps = [{ type: 'send', body: 'Forgot something, {{firstName}}? {{checkoutUrl}}' }];
    const flow = await liveFlow(shop, { name: 'Abandoned', trigger: { type: 'checkout_abandoned', delayMinutes: 60 }, steps, smartSending: { mode: 'exempt_within', withinMinutes: 120 } });
    const t0 = new Date(Date.UTC(2026, 11, 2, 16));
    const runs: Record<string, string> = {};
    const contacts: Record<string, { id: string; phone: string }> = {};
    for (const k of ['idle', 'ordered']) {
      contacts[k] = await createContact(env.db, shop.id, { firstName: 'Grace' });
      const token = `tok-${randomUUID()}`;
      await env.db.$executeRaw`
        INSERT INTO shopify_checkouts (shop_id, token, contact_id, abandoned_checkout_url, shopify_updated_at)
        VALUES (${shop.id}::uuid, ${token}, ${contacts[k]!.id}::uuid, ${`https://acme.example/recover/${token}`}, ${t0}::timestamptz)`;
      runs[k] = await startRun(shop, flow, contacts[k]!.id, t0, { trigger: 'checkout_abandoned', subject: token, baseAt: new Date(t0.getTime() + hour) });
    }
    await env.db.$executeRaw`
      INSERT INTO shopify_orders (shop_id, order_id, contact_id, total_minor, currency, ordered_at)
      VALUES (${shop.id}::uuid, ${`o-${randomUUID()}`}, ${contacts.ordered!.id}::uuid, 1000, 'USD', ${new Date(t0.getTime() + 30 * 60_000)}::timestamptz)`;
    expect(await tick(new Date(t0.getTime() + hour - 1000), Object.values(runs))).toEqual([]);
    await tick(new Date(t0.getTime() + hour), Object.values(runs));
    expect(textsTo(contacts.idle!.phone)).toEqual([expect.stringMatching(/^Forgot something, Grace\? https:\/\/acme\.example\/recover\/tok-[0-9a-f-]+\nReply STOP to opt out$/)]);
    expect(await run(runs.idle!)).toMatchObject({ status: 'completed' });
    expect(textsTo(contacts.ordered!.phone)).toEqual([]);
    expect(await run(runs.ordered!)).toMatchObject({ status: 'exited', exit_reason: 'order_placed' });
    expect(await messages(runs.ordered!)).toEqual([]);
  });

  it('STOP mid-flow ends the run: no further message', async () => {
    const shop = await shopFor();
    const contact = await createContact(env.db, shop.id);
    const flow = await liveFlow(shop, { name: 'Welcome', trigger: { type: 'contact_subscribed' }, steps: welcome });
    const t0 = new Date(Date.UTC(2026, 11, 3, 16));
    const id = await startRun(shop, flow, contact.id, t0, { trigger: 'contact_subscribed', subject: randomUUID() });
    await tick(t0, [id]);
    await tick(t0, [id]);
    expect(textsTo(contact.phone)).toHaveLength(1);
    await env.db.$transaction((tx) =>
      applyInboundKeyword(tx, { keyword: 'STOP', fromHash: phoneHash(contact.phone), fromHmac: phoneHmac(env.config.PHONE_HASH_KEY, contact.phone), route: { kind: 'owned', shopId: shop.id, scope: shopScope(shop.id) }, at: t0 }),
    );
    expect(await tick(new Date(t0.getTime() + 25 * hour), [id])).toEqual([]);
    expect(textsTo(contact.phone)).toHaveLength(1);
    expect(await run(id)).toMatchObject({ status: 'exited', exit_reason: 'opted_out' });
    expect((await messages(id)).map((m) => m.step)).toEqual([0]);
  });

  it("a step due in the recipient's quiet hours waits for their morning, then sends", async () => {
    const shop = await shopFor({ quiet: ['21:00', '09:00'] });
    const contact = await createContact(env.db, shop.id);
    await env.db.$executeRaw`UPDATE contacts SET timezone = 'America/Los_Angeles' WHERE id = ${contact.id}::uuid`;
    const flow = await liveFlow(shop, { name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks for your order!' }] });
    // 10:00 UTC = 02:00 in Los Angeles (and 05:00 in New Jersey, the number's zone): quiet.
    const t0 = new Date(Date.UTC(2026, 11, 4, 10));
    const id = await startRun(shop, flow, contact.id, t0);
    // The latest opening of the contact's zone, the number's zone and the shop's window: 09:00 in Los Angeles = 17:00 UTC.
    const morning = new Date(Date.UTC(2026, 11, 4, 17));
    expect(await tick(t0, [id])).toEqual([{ kind: 'deferred', step: 0, dueAt: morning, reason: 'quiet_hours' }]);
    expect(await run(id)).toMatchObject({ status: 'active', current_step: 0, next_due_at: morning, claim_token: null });
    expect(await messages(id)).toEqual([]);
    expect(await tick(new Date(morning.getTime() - 1000), [id])).toEqual([]);
    expect(await tick(morning, [id])).toMatchObject([{ kind: 'completed', message: 'sent' }]);
    expect(textsTo(contact.phone)).toEqual(['Thanks for your order!\nReply STOP to opt out']);
  });

  it('quiet hours that never leave the recipient an instant end the step with a reason, instead of deferring it forever', async () => {
    // The shop is quiet 07:00–22:00; the US floor is 21:00–08:00: no instant of New York's day is open to both.
    const shop = await shopFor({ quiet: ['07:00', '22:00'] });
    const contact = await createContact(env.db, shop.id);
    await env.db.$executeRaw`UPDATE contacts SET timezone = 'America/New_York' WHERE id = ${contact.id}::uuid`;
    const flow = await liveFlow(shop, { name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks!' }] });
    let now = new Date(Date.UTC(2026, 11, 8, 15));
    const id = await startRun(shop, flow, contact.id, now);
    // Followed claim after claim, as the scheduler would (each deferral re-due at its time): it must end, once.
    const outcomes: StepOutcome[] = [];
    for (let i = 0; i < 6 && (await run(id)).status === 'active'; i++) {
      outcomes.push(...(await tick(now, [id])));
      now = (await run(id)).next_due_at ?? now;
    }
    expect(outcomes).toEqual([{ kind: 'exited', reason: 'not_sendable', message: 'skipped' }]);
    expect(await run(id)).toMatchObject({ status: 'exited', exit_reason: 'not_sendable', next_due_at: null });
    expect(await messages(id)).toMatchObject([{ step: 0, status: 'skipped', skip_reason: 'quiet_hours', credits: 0 }]);
    expect(textsTo(contact.phone)).toEqual([]);
  });

  it('editing a live flow does not change the messages of runs in progress', async () => {
    const shop = await shopFor();
    const contact = await createContact(env.db, shop.id);
    const v1 = [{ type: 'send', body: 'v1 first' }, { type: 'wait', duration: { amount: 2, unit: 'hours' } }, { type: 'send', body: 'v1 second' }];
    const flow = await liveFlow(shop, { name: 'Post purchase', trigger: { type: 'order_created' }, steps: v1 });
    const t0 = new Date(Date.UTC(2026, 11, 5, 16));
    const id = await startRun(shop, flow, contact.id, t0);
    await tick(t0, [id]);
    expect((await patch(shop, `/api/flows/${flow.id}`, { steps: [{ type: 'send', body: 'v2 first' }, { type: 'send', body: 'v2 second' }] })).status).toBe(200);
    await tick(t0, [id]);
    await tick(new Date(t0.getTime() + 2 * hour), [id]);
    expect(textsTo(contact.phone)).toEqual(['v1 first\nReply STOP to opt out', 'v1 second\nReply STOP to opt out']);
    expect(await run(id)).toMatchObject({ status: 'completed' });
  });

  it('smart sending: a capped step is skipped (no credit, the run goes on); an exempt flow sends', async () => {
    const shop = await shopFor({ smartSending: true });
    const t0 = new Date(Date.UTC(2026, 11, 6, 16));
    const capped = await createContact(env.db, shop.id);
    const exempt = await createContact(env.db, shop.id);
    // Both were texted by a campaign an hour ago (the window is the shop's 16 h).
    for (const c of [capped, exempt]) {
      await env.db.$executeRaw`
        INSERT INTO contact_send_slots (contact_id, shop_id, campaign_id, last_at) VALUES (${c.id}::uuid, ${shop.id}::uuid, ${randomUUID()}::uuid, ${new Date(t0.getTime() - hour)}::timestamptz)`;
    }
    const steps = [{ type: 'send', body: 'Capped?' }, { type: 'send', body: 'Still capped?' }];
    const applies = await liveFlow(shop, { name: 'Applies', trigger: { type: 'order_created' }, steps, smartSending: { mode: 'apply' } });
    const exempted = await liveFlow(shop, { name: 'Exempt', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Exempt' }], smartSending: { mode: 'exempt' } });
    const a = await startRun(shop, applies, capped.id, t0);
    const b = await startRun(shop, exempted, exempt.id, t0);
    const before = await ledgerDebits(shop.id);
    expect(await tick(t0, [a, b])).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'advanced', step: 1, message: 'skipped' }), expect.objectContaining({ kind: 'completed', message: 'sent' })]));
    expect((await messages(a))[0]).toMatchObject({ status: 'skipped', skip_reason: 'frequency_cap', credits: 0 });
    expect(textsTo(capped.phone)).toEqual([]);
    expect(textsTo(exempt.phone)).toEqual(['Exempt\nReply STOP to opt out']);
    const after = await ledgerDebits(shop.id);
    expect(after.flow - before.flow).toBe(1);
    // The exempt message took the slot: it counts against what comes next.
    const [slot] = await env.db.$queryRaw<{ last_at: Date; campaign_id: string | null }[]>`SELECT last_at, campaign_id FROM contact_send_slots WHERE contact_id = ${exempt.id}::uuid`;
    expect(slot).toEqual({ last_at: t0, campaign_id: null });
    // Past the window (and in the recipient's daytime: 09:00 in New Jersey) the capped contact's next step goes out.
    expect(await tick(new Date(t0.getTime() + 22 * hour), [a])).toMatchObject([{ kind: 'completed', message: 'sent' }]);
    expect(textsTo(capped.phone)).toEqual(['Still capped?\nReply STOP to opt out']);
    const t1 = new Date(t0.getTime() + 22 * hour);
    // A run's own earlier message does not hold back its next step (the flow's waits are the merchant's choice) ...
    const series = await liveFlow(shop, { name: 'Series', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'One' }, { type: 'wait', duration: { amount: 1, unit: 'hours' } }, { type: 'send', body: 'Two' }] });
    const fresh = await createContact(env.db, shop.id);
    const c = await startRun(shop, series, fresh.id, t1);
    await tick(t1, [c]);
    await tick(t1, [c]);
    expect(await tick(new Date(t1.getTime() + hour), [c])).toMatchObject([{ kind: 'completed', message: 'sent' }]);
    expect(textsTo(fresh.phone)).toEqual(['One\nReply STOP to opt out', 'Two\nReply STOP to opt out']);
    // ... but a campaign's (or another run's) message in between does.
    const second = await startRun(shop, series, fresh.id, t1);
    expect(await tick(new Date(t1.getTime() + 2 * hour), [second])).toMatchObject([{ kind: 'advanced', step: 1, message: 'skipped' }]);
  });

  /** A provider that refuses every request as a whole (nothing accepted). */
  const down: SmsProvider = {
    name: 'simulator',
    dedupsByReference: false,
    maxBatchSize: 1000,
    sendBatch: async () => {
      throw new ProviderUnavailableError('simulator', 'provider returned 503', 503);
    },
  };

  it('a STOP between a refused request and its retry is honoured: the retry sends nothing, the message is skipped as suppressed, the run exits and the slot is free', async () => {
    const shop = await shopFor({ smartSending: true });
    const contact = await createContact(env.db, shop.id);
    const flow = await liveFlow(shop, { name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks for your order!' }] });
    const t0 = new Date(Date.UTC(2026, 11, 12, 16));
    const id = await startRun(shop, flow, contact.id, t0);
    expect(await tick(t0, [id], sendDeps({ provider: down }))).toMatchObject([{ kind: 'deferred', reason: 'provider_retry' }]);
    // The STOP reaches the provider's reply number (no shop owns it): it binds every send.
    await env.db.$transaction((tx) =>
      applyInboundKeyword(tx, {
        keyword: 'STOP', fromHash: phoneHash(contact.phone), fromHmac: phoneHmac(env.config.PHONE_HASH_KEY, contact.phone),
        route: { kind: 'none', scope: 'all' }, at: new Date(t0.getTime() + 10_000),
      }),
    );
    const retried = await tick(new Date(t0.getTime() + 61_000), [id]);
    expect(textsTo(contact.phone)).toEqual([]);
    expect(retried).not.toMatchObject([{ message: 'sent' }]);
    expect(await messages(id)).toMatchObject([{ status: 'skipped', skip_reason: 'suppressed', credits: 0, body: null }]);
    expect(await run(id)).toMatchObject({ status: 'exited', exit_reason: 'not_sendable' });
    const [slot] = await env.db.$queryRaw<{ last_at: Date | null }[]>`SELECT last_at FROM contact_send_slots WHERE contact_id = ${contact.id}::uuid`;
    expect(slot?.last_at ?? null).toBeNull();
  });

  it("a step sent on its retry after a refused request does not hold back the run's next step under smart sending", async () => {
    const shop = await shopFor({ smartSending: true });
    const contact = await createContact(env.db, shop.id);
    const series = await liveFlow(shop, {
      name: 'Series', trigger: { type: 'order_created' }, smartSending: { mode: 'apply' },
      steps: [{ type: 'send', body: 'One' }, { type: 'wait', duration: { amount: 1, unit: 'hours' } }, { type: 'send', body: 'Two' }],
    });
    const t0 = new Date(Date.UTC(2026, 11, 13, 16));
    const id = await startRun(shop, series, contact.id, t0);
    expect(await tick(t0, [id], sendDeps({ provider: down }))).toMatchObject([{ kind: 'deferred', reason: 'provider_retry' }]);
    const t1 = new Date(t0.getTime() + 61_000);
    expect(await tick(t1, [id])).toMatchObject([{ kind: 'advanced', step: 1, message: 'sent' }]);
    expect(await tick(t1, [id])).toMatchObject([{ kind: 'advanced', step: 2 }]);
    expect(await tick(new Date(t1.getTime() + hour), [id])).toMatchObject([{ kind: 'completed', message: 'sent' }]);
    expect(textsTo(contact.phone)).toEqual(['One\nReply STOP to opt out', 'Two\nReply STOP to opt out']);
  });

  it('insufficient credits defer the step by an hour (counted), never exit; a top-up resumes it', async () => {
    const shop = await shopFor({ credits: 0 });
    const contact = await createContact(env.db, shop.id);
    const flow = await liveFlow(shop, { name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks!' }] });
    const t0 = new Date(Date.UTC(2026, 11, 7, 16));
    const id = await startRun(shop, flow, contact.id, t0);
    const deferredBefore = (await metrics.flowMessages.get()).values.find((v) => v.labels.reason === 'insufficient_credits')?.value ?? 0;
    expect(await tick(t0, [id])).toEqual([{ kind: 'deferred', step: 0, dueAt: new Date(t0.getTime() + hour), reason: 'insufficient_credits' }]);
    expect(await run(id)).toMatchObject({ status: 'active', current_step: 0, next_due_at: new Date(t0.getTime() + hour) });
    expect(await messages(id)).toEqual([]);
    expect((await metrics.flowMessages.get()).values.find((v) => v.labels.reason === 'insufficient_credits')?.value).toBe(deferredBefore + 1);
    await grantCredits(env.db, shop.id, 5);
    expect(await tick(new Date(t0.getTime() + hour), [id])).toMatchObject([{ kind: 'completed', message: 'sent' }]);
    expect(await ledgerDebits(shop.id)).toEqual({ flow: 1, all: 1 });
  });

  it('credits debited = segments sent, across flows and campaigns of a shop (ledger = wallet)', async () => {
    const shop = await shopFor({ credits: 10_000 });
    const contacts = [await createContact(env.db, shop.id), await createContact(env.db, shop.id), await createContact(env.db, shop.id)];
    // A campaign to all three, through the campaign pipeline.
    const campaign = await queuedCampaign(env.db, shop.id, { segmentsPerMessage: 2 });
    const job = { campaignId: campaign.id, shopId: shop.id, traceId: `trace-${campaign.id}` };
    expect((await launchCampaign({ db: env.db, producer: env.workerDeps().producer, now: () => new Date(), batchSize: 100 }, job)).outcome).toBe('launched');
    const batch = await sendBatch(
      { db: env.db, provider: simulatorProvider(simUrl, { dedupsByReference: false }), now: () => new Date(), leaseMs: 60_000, phoneHashKey: env.config.PHONE_HASH_KEY, quietHoursFloor: false },
      { ...job, batchNo: 0 },
    );
    expect(batch.outcome).toBe('done');
    // And a flow of a one-segment and a two-segment message to each.
    const long = `${'A long message that takes two segments. '.repeat(4)}{{firstName}}`;
    const flow = await liveFlow(shop, { name: 'Post purchase', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks!' }, { type: 'send', body: long }] });
    const t0 = new Date(Date.UTC(2026, 11, 10, 16));
    const runs = [];
    for (const c of contacts) runs.push(await startRun(shop, flow, c.id, t0));
    await tick(t0, runs);
    await tick(t0, runs);
    const [f] = await env.db.$queryRaw<{ segments: bigint; credits: bigint; n: bigint }[]>`
      SELECT sum(segments) AS segments, sum(credits) AS credits, count(*) AS n FROM flow_messages WHERE run_id = ANY(${runs}::bigint[]) AND status = 'sent'`;
    expect(Number(f!.n)).toBe(6);
    expect(Number(f!.segments)).toBe(3 * (1 + 2));
    expect(Number(f!.credits)).toBe(Number(f!.segments));
    const campaignSegments = await sentSegments(env.db, campaign.id);
    expect(campaignSegments).toBeGreaterThan(0);
    expect(await ledgerDebits(shop.id)).toEqual({ flow: Number(f!.segments), all: Number(f!.segments) + campaignSegments });
    const money = await moneyState(env.db, shop.id);
    expect(money.ledgerSum).toBe(money.balance);
    expect(money.balance).toBe(10_000 - Number(f!.segments) - campaignSegments);
  });

  it('a worker killed between the provider call and the settle: resent with the same reference to a deduplicating provider, else recorded unknown; never sent twice, charged once', async () => {
    const dedupSim = await startSimulator({ dedupsByReference: true });
    try {
      const shop = await shopFor();
      const flow = await liveFlow(shop, { name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks!' }] });
      const t0 = new Date(Date.UTC(2026, 11, 8, 16));
      const crash = (): never => {
        throw new Error('worker killed');
      };
      // A provider that does not dedup: the next claim records unknown and moves on.
      const plain = await createContact(env.db, shop.id);
      const p = await startRun(shop, flow, plain.id, t0);
      await expect(tick(t0, [p], sendDeps({ afterProviderCall: crash }))).rejects.toThrow('worker killed');
      expect(await messages(p)).toMatchObject([{ status: 'sending' }]);
      const later = new Date(t0.getTime() + 61_000);
      expect(await tick(later, [p])).toMatchObject([{ kind: 'completed', message: 'unknown' }]);
      const [pm] = await messages(p);
      expect(pm).toMatchObject({ status: 'unknown', credits: 0, body: null });
      expect(sim.referenceStats(`f${pm!.id}`).sends).toBe(1);

      // A deduplicating provider: re-sent with the same reference, one SMS, charged once.
      const dedupDeps = (o: Partial<FlowSendDeps> = {}) => sendDeps({ provider: simulatorProvider(dedupSim.url, { dedupsByReference: true }), ...o });
      const deduped = await createContact(env.db, shop.id);
      const d = await startRun(shop, flow, deduped.id, t0);
      const before = await ledgerDebits(shop.id);
      await expect(tick(t0, [d], dedupDeps({ afterProviderCall: crash }))).rejects.toThrow('worker killed');
      expect(await tick(later, [d], dedupDeps())).toMatchObject([{ kind: 'completed', message: 'sent' }]);
      const [dm] = await messages(d);
      expect(dm).toMatchObject({ status: 'sent', credits: 1 });
      expect(dedupSim.sim.referenceStats(`f${dm!.id}`)).toMatchObject({ sends: 1, duplicates: 1 });
      expect((await ledgerDebits(shop.id)).flow - before.flow).toBe(1);
    } finally {
      await dedupSim.sim.stop();
    }
  });

  it('a delivery report for f<id> marks the message delivered once; a repeat changes nothing; an unknown one proven delivered is charged once', async () => {
    const shop = await shopFor();
    const contact = await createContact(env.db, shop.id);
    const flow = await liveFlow(shop, { name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks!' }] });
    const t0 = new Date(Date.UTC(2026, 11, 9, 16));
    const id = await startRun(shop, flow, contact.id, t0);
    await tick(t0, [id]);
    const [m] = await messages(id);
    expect(m).toMatchObject({ status: 'sent' });
    const report = { id: m!.provider_message_id, status: 'delivered', timestamp: new Date().toISOString(), reference: `f${m!.id}` };
    for (let i = 0; i < 3; i++) expect((await postSimulator(app, 'status', report)).status).toBeLessThan(300);
    await waitFor('reports applied', async () => {
      await applyDeliveryReports(env.db, { limit: 100 });
      const [r] = await env.db.$queryRaw<{ n: number }[]>`
        SELECT count(*)::int AS n FROM webhook_events WHERE provider LIKE 'sms-%' AND status = 'received' AND payload->>'reference' = ${`f${m!.id}`}`;
      return r!.n === 0;
    });
    const [after] = await messages(id);
    expect(after).toMatchObject({ status: 'delivered', credits: 1 });
    const deliveredAt = after!.delivered_at;
    expect(deliveredAt).toBeInstanceOf(Date);
    // A failed report after the delivered one moves nothing.
    expect((await postSimulator(app, 'status', { ...report, status: 'failed', errorCode: 'late' })).status).toBeLessThan(300);
    await applyDeliveryReports(env.db, { limit: 100 });
    expect((await messages(id))[0]).toMatchObject({ status: 'delivered', delivered_at: deliveredAt });
    expect(await ledgerDebits(shop.id)).toEqual({ flow: 1, all: 1 });

    // A message recorded unknown (its worker died after the call) that a report proves delivered: charged then, once.
    const other = await createContact(env.db, shop.id);
    const u = await startRun(shop, flow, other.id, t0);
    await expect(tick(t0, [u], sendDeps({ afterProviderCall: () => { throw new Error('worker killed'); } }))).rejects.toThrow('worker killed');
    await tick(new Date(t0.getTime() + 61_000), [u]);
    const [um] = await messages(u);
    expect(um).toMatchObject({ status: 'unknown', credits: 0, provider_message_id: null });
    const pmid = sim.referenceStats(`f${um!.id}`).providerId;
    for (let i = 0; i < 2; i++) {
      expect((await postSimulator(app, 'status', { id: pmid, status: 'delivered', timestamp: new Date().toISOString(), reference: `f${um!.id}` })).status).toBeLessThan(300);
      await applyDeliveryReports(env.db, { limit: 100 });
    }
    expect((await messages(u))[0]).toMatchObject({ status: 'delivered', credits: 1, provider_message_id: pmid });
    expect(await ledgerDebits(shop.id)).toEqual({ flow: 2, all: 2 });
  });

  it('a report that beats its send\'s settle waits (its own job retries) and applies once the message is sent', async () => {
    const shop = await shopFor();
    const contact = await createContact(env.db, shop.id);
    const flow = await liveFlow(shop, { name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'send', body: 'Thanks!' }] });
    const t0 = new Date(Date.UTC(2026, 11, 11, 16));
    const id = await startRun(shop, flow, contact.id, t0);
    const webhookDeps = env.workerDeps();
    let eventId: string | null = null;
    const early = sendDeps({
      afterProviderCall: async (r) => {
        if (r?.outcome !== 'accepted') throw new Error('expected an accepted send');
        expect((await postSimulator(app, 'status', { id: r.providerMessageId, status: 'delivered', timestamp: new Date().toISOString(), reference: r.reference })).status).toBeLessThan(300);
        // Stored with the other single reports of its moment (a group row); its own job splits it out to a row of its own.
        const [group] = await reportHolders(env.db, 'sms-simulator', `${r.providerMessageId}:delivered`);
        expect(await processWebhookEvent(webhookDeps, group!.id, { final: false })).toBe('processed');
        const [e] = await env.db.$queryRaw<{ id: string }[]>`SELECT id::text FROM webhook_events WHERE provider = 'sms-simulator' AND event_id = ${`${r.providerMessageId}:delivered`}`;
        eventId = e!.id;
        await expect(processWebhookEvent(webhookDeps, eventId, { final: false })).rejects.toThrow(/not settled yet/);
      },
    });
    expect(await tick(t0, [id], early)).toMatchObject([{ kind: 'completed', message: 'sent' }]);
    expect(eventId).not.toBeNull();
    expect(await processWebhookEvent(webhookDeps, eventId!, { final: false })).toBe('processed');
    expect((await messages(id))[0]).toMatchObject({ status: 'delivered', credits: 1 });
    expect(await processWebhookEvent(webhookDeps, eventId!, { final: false })).toBe('processed');
    expect((await messages(id))[0]).toMatchObject({ status: 'delivered' });
  });

  it('a Redis flush mid-wait loses no run: the scheduler claims it again from Postgres and the step is sent', async () => {
    const shop = await shopFor();
    const contact = await createContact(env.db, shop.id);
    const flow = await liveFlow(shop, { name: 'Thanks', trigger: { type: 'order_created' }, steps: [{ type: 'wait', duration: { amount: 1, unit: 'hours' } }, { type: 'send', body: 'An hour later' }] });
    const id = await startRun(shop, flow, contact.id, new Date());
    const { deps } = await env.worker({ queues: ['flows'], overrides: { provider: recordingProvider(simulatorProvider(simUrl, { dedupsByReference: false }), sent), config: { ...env.config, SMS_QUIET_HOURS_FLOOR: false } } });
    await upsertSchedulers(deps.queues, env.config);
    await waitFor('the scheduler ticked', async () => ((await deps.queues.get('flows').getJobCounts('completed')).completed ?? 0) > 0);
    // Everything this test's prefix holds in Redis goes (jobs, schedulers, limiter counters); the run waits in Postgres.
    const redis = createWorkerRedis(env.config.REDIS_URL);
    try {
      const keys = await redis.keys(`${env.prefix}*`);
      expect(keys.length).toBeGreaterThan(0);
      await redis.del(...keys);
      expect(await redis.keys(`${env.prefix}*`)).toEqual([]);
    } finally {
      redis.disconnect();
    }
    expect(await run(id)).toMatchObject({ status: 'active', current_step: 1 });
    // The hour passes; a worker (re)starting upserts the scheduler again, which claims the run from Postgres.
    await env.db.$executeRaw`UPDATE flow_runs SET next_due_at = now() WHERE id = ${id}::bigint`;
    await upsertSchedulers(deps.queues, env.config);
    await waitFor('the message went out', async () => (await run(id)).status === 'completed');
    expect(textsTo(contact.phone)).toEqual(['An hour later\nReply STOP to opt out']);
  });

  it('end to end: the subscription webhook delivered 10 times, a worker SIGKILLed between steps: each step sent once, in order', async () => {
    const shop = await shopFor();
    await env.db.$executeRaw`UPDATE shops SET name = 'Acme' WHERE id = ${shop.id}::uuid`;
    const steps = [{ type: 'send', body: 'Welcome {{firstName}}!' }, { type: 'wait', duration: { amount: 1, unit: 'minutes' } }, { type: 'send', body: 'Second step' }];
    const flow = await liveFlow(shop, { name: 'Welcome', trigger: { type: 'contact_subscribed' }, steps });
    const worker = { SMS_PROVIDER: 'simulator', SMS_PROVIDER_URL: simUrl, SMS_PROVIDER_API_KEY: 'test-sim-api-key', SMS_PROVIDER_DEDUPS_BY_REFERENCE: 'false', SMS_QUIET_HOURS_FLOOR: 'false' };
    const first = await startWorkerProcess(env, worker);
    let second: Awaited<ReturnType<typeof startWorkerProcess>> | null = null;
    try {
      const phone = testPhone();
      const body = {
        id: Date.now(), phone, email: null, first_name: 'Grace', last_name: 'Hopper', updated_at: new Date().toISOString(),
        sms_marketing_consent: { state: 'subscribed', opt_in_level: 'single_opt_in', consent_updated_at: new Date().toISOString() },
      };
      const webhookId = rid('wh');
      for (let i = 0; i < 5; i++) expect((await postShopify(app, 'customers/create', body, { shopDomain: shop.domain, webhookId })).status).toBe(200);
      for (let i = 0; i < 5; i++) expect((await postShopify(app, 'customers/create', body, { shopDomain: shop.domain })).status).toBe(200);
      const runs = async () => env.db.$queryRaw<{ id: string; status: string; current_step: number }[]>`SELECT id::text, status, current_step FROM flow_runs WHERE flow_id = ${flow.id}::uuid`;
      await waitFor('the first step sent', async () => {
        const [r] = await runs();
        return r !== undefined && r.current_step >= 2;
      }, 60_000);
      killGroup(first.pid, 'SIGKILL');
      await waitFor('the worker is gone', () => first.exit() !== undefined);
      const [r] = await runs();
      expect(await runs()).toHaveLength(1);
      // The minute's wait passes while no worker runs.
      await env.db.$executeRaw`UPDATE flow_runs SET next_due_at = now() WHERE id = ${r!.id}::bigint AND status = 'active'`;
      second = await startWorkerProcess(env, worker);
      await waitFor('the run completed', async () => (await runs())[0]!.status === 'completed', 60_000);
      const rows = await messages(r!.id);
      expect(rows.map((m) => [m.step, m.status])).toEqual([[0, 'sent'], [2, 'sent']]);
      for (const m of rows) expect(sim.referenceStats(`f${m.id}`)).toMatchObject({ sends: 1 });
      expect(sim.stats().duplicatesSent).toBe(0);
    } finally {
      await first.stop();
      await second?.stop();
    }
  }, 180_000);
});
