import type { Express } from 'express';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createContact, createShop, type ShopFixture } from '../factories';
import { createTestEnv, type TestEnv } from '../harness';
import { moneyState, simulatorProvider, startSimulator, waitFor } from '../sending';
import { sessionToken } from '../session-token';
import { postSimulator } from '../webhooks';
import type { SimulatorHandle } from '../../apps/sms-simulator/src/simulator';
import { claimDueRuns } from '../../domain/flows/claim-due-runs';
import { executeFlowSteps } from '../../domain/flows/execute-flow-steps';
import { applyFlowMessageReports } from '../../domain/flows/apply-flow-message-reports';
import { redactCustomer } from '../../domain/privacy/redact-customer';
import { flowClaimDebitKey } from '../../domain/flows/debit-flow-messages';
import type { StepOutcome } from '../../domain/flows/execute-flow-step';
import type { FlowSendDeps } from '../../domain/flows/send-flow-message';
import { phoneHmac, shopScope } from '../../domain/compliance/suppressions';
import { ProviderUnavailableError, type OutboundMessage, type SendResult, type SmsProvider } from '../../domain/messaging/providers/provider';
import { createMetrics } from '../../lib/metrics';

// The send steps of one claim executed together (execute-flow-steps.ts,
// send-flow-messages.ts; docs/flows.md "Scale"): ONE provider request per
// claim, and per run exactly the outcome the one-message path gives —
// consent, opt-outs, smart sending, credits in claim order, a run of the same
// contact twice in a claim, a message row left by an attempt that died, a
// repeated job, a provider that refuses the request or answers nothing.
// Real Postgres and the simulator at its HTTP boundary; the clock is passed in.

describe('flow send steps of a claim, together', () => {
  let env: TestEnv;
  let app: Express;
  let sim: SimulatorHandle;
  let simUrl: string;
  /** Every provider request: the messages of each, in order. */
  const requests: OutboundMessage[][] = [];
  const metrics = createMetrics();

  beforeAll(async () => {
    env = await createTestEnv();
    ({ app } = await env.api());
    // The delivery-report drain, for the batched callback below.
    await env.worker({ queues: ['webhooks'] });
    ({ sim, url: simUrl } = await startSimulator({ dedupsByReference: false }));
  });
  afterAll(async () => {
    await sim.stop();
    await env.close();
  });
  beforeEach(async () => {
    requests.length = 0;
    // Runs of earlier tests must not join this test's claims.
    await env.db.$executeRaw`UPDATE flow_runs SET status = 'exited', exit_reason = 'condition', next_due_at = NULL, ended_at = now(), claim_token = NULL, lease_until = NULL WHERE status = 'active'`;
  });

  const recording = (inner: SmsProvider, o: { fail?: 'refuse' | 'silent' } = {}): SmsProvider => ({
    name: inner.name,
    dedupsByReference: inner.dedupsByReference,
    maxBatchSize: inner.maxBatchSize,
    sendBatch: async (messages, ctx): Promise<SendResult[]> => {
      requests.push([...messages]);
      if (o.fail === 'refuse') throw new ProviderUnavailableError(inner.name, 'provider down (test)');
      if (o.fail === 'silent') return [];
      return inner.sendBatch(messages, ctx);
    },
  });
  const sendDeps = (o: { fail?: 'refuse' | 'silent'; provider?: SmsProvider; afterProviderCall?: FlowSendDeps['afterProviderCall'] } = {}): FlowSendDeps => ({
    provider: recording(o.provider ?? simulatorProvider(simUrl, { dedupsByReference: false }), o),
    phoneHashKey: env.config.PHONE_HASH_KEY,
    leaseMs: 60_000,
    quietHoursFloor: false,
    metrics,
    afterProviderCall: o.afterProviderCall,
  });
  const killed = (): void => {
    throw new Error('worker killed');
  };

  const post = async (shop: ShopFixture, path: string, body: object = {}) =>
    request(app).post(path).set('Authorization', `Bearer ${await sessionToken(shop.domain)}`).set('Idempotency-Key', randomUUID()).send(body);

  async function shopFor(o: { credits?: number; smartSending?: boolean } = {}): Promise<ShopFixture> {
    const shop = await createShop(env.db, { credits: o.credits ?? 1_000 });
    await env.db.$executeRaw`
      UPDATE shops SET quiet_hours_start = '00:00', quiet_hours_end = '00:00', smart_sending_enabled = ${o.smartSending ?? false}, name = 'Acme' WHERE id = ${shop.id}::uuid`;
    return shop;
  }

  /** A live flow of these steps (the API's create + activate). */
  async function liveFlow(shop: ShopFixture, steps: object[], extra: object = {}): Promise<{ id: string; versionId: string }> {
    const created = await post(shop, '/api/flows', { name: `Batch ${randomUUID().slice(0, 8)}`, trigger: { type: 'order_created' }, steps, ...extra });
    expect(created.status).toBe(201);
    expect((await post(shop, `/api/flows/${created.body.id}/activate`)).status).toBe(200);
    return { id: created.body.id, versionId: created.body.currentVersion.id };
  }

  /** Runs of the flow for these contacts, due at `at`, in this order. */
  async function runsFor(shop: ShopFixture, flow: { id: string; versionId: string }, contactIds: string[], at: Date): Promise<string[]> {
    const rows = await env.db.$queryRaw<{ id: string }[]>`
      INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, status, current_step, next_due_at)
      SELECT ${flow.id}::uuid, ${flow.versionId}::uuid, ${shop.id}::uuid, c, 'order_created', 'o-' || ord, ${at}::timestamptz, 'active', 0, ${at}::timestamptz
        FROM unnest(${contactIds}::uuid[]) WITH ORDINALITY AS u(c, ord)
      RETURNING id::text`;
    return rows.map((r) => r.id);
  }

  async function tick(now: Date, deps: FlowSendDeps = sendDeps()): Promise<{ claimToken: string; runIds: string[]; outcomes: Map<string, StepOutcome> }> {
    const claim = await claimDueRuns(env.db, { now, limit: 1000, leaseMs: 60_000 });
    const outcomes = await executeFlowSteps(env.db, { runIds: claim.runIds, claimToken: claim.claimToken, now: () => now, send: deps });
    return { claimToken: claim.claimToken, runIds: claim.runIds, outcomes };
  }

  const messagesOf = (runIds: string[]) =>
    env.db.$queryRaw<{ run_id: string; id: string; status: string; skip_reason: string | null; error_code: string | null; segments: number | null; credits: number; claim_token: string | null }[]>`
      SELECT run_id::text, id::text, status, skip_reason, error_code, segments, credits, claim_token::text FROM flow_messages m WHERE m.run_id = ANY(${runIds}::bigint[]) ORDER BY m.run_id, m.step`;
  const runsOf = (runIds: string[]) =>
    env.db.$queryRaw<{ id: string; status: string; exit_reason: string | null; current_step: number; next_due_at: Date | null; claim_token: string | null }[]>`
      SELECT id::text, status, exit_reason, current_step, next_due_at, claim_token::text FROM flow_runs r WHERE r.id = ANY(${runIds}::bigint[]) ORDER BY r.id`;
  const marksOf = async (runIds: string[]) =>
    (await env.db.$queryRaw<{ mark: string | null }[]>`SELECT sending_message_id::text AS mark FROM flow_runs WHERE id = ANY(${runIds}::bigint[]) ORDER BY id`).map((r) => r.mark);
  const flowLedger = (shopId: string) =>
    env.db.$queryRaw<{ idempotency_key: string; amount: bigint; balance_after: bigint }[]>`
      SELECT idempotency_key, amount, balance_after FROM credit_transactions WHERE shop_id = ${shopId}::uuid AND type = 'debit' AND reference LIKE 'flow:%'`;

  const t0 = new Date('2026-03-02T15:00:00Z');
  const twoSteps = [{ type: 'send', body: 'Thanks {{firstName|friend}}! Here is 10% off: THANKS10' }, { type: 'wait', duration: { amount: 1, unit: 'days' } }];
  const oneStep = [{ type: 'send', body: 'Welcome to {{shopName}}, {{firstName|friend}}!' }];

  it('sends a claim in ONE provider request: each run once, each charged its segments (a ledger row per flow of the claim, balance_after in order), moved on', async () => {
    const shop = await shopFor({ credits: 500 });
    const flow = await liveFlow(shop, twoSteps);
    const contacts = await Promise.all(Array.from({ length: 25 }, (_, i) => createContact(env.db, shop.id, { firstName: `C${i}` })));
    const runIds = await runsFor(shop, flow, contacts.map((c) => c.id), t0);
    // The first contact is in another flow's claim too (smart sending off: both go out); the second run takes the one-message path.
    const [other] = await runsFor(shop, await liveFlow(shop, oneStep), [contacts[0]!.id], t0);

    const { outcomes, claimToken } = await tick(t0);
    expect(requests).toHaveLength(2);
    expect(requests[0]).toHaveLength(25);
    expect(new Set(requests[0]!.map((m) => m.to)).size).toBe(25);
    expect(requests[1]!.map((m) => m.to)).toEqual([contacts[0]!.phone]);
    for (const id of runIds) expect(outcomes.get(id)).toMatchObject({ kind: 'advanced', step: 1, message: 'sent' });
    expect(outcomes.get(other!)).toMatchObject({ kind: 'completed', message: 'sent' });

    const rows = await messagesOf(runIds);
    expect(rows).toHaveLength(25);
    for (const m of rows) expect(m).toMatchObject({ status: 'sent', credits: m.segments, claim_token: null });
    const runs = await runsOf(runIds);
    for (const r of runs) expect(r).toMatchObject({ status: 'active', current_step: 1, claim_token: null });
    // On to the wait, due now (the next claim starts it).
    for (const r of runs) expect(r.next_due_at).toEqual(t0);

    const ledger = await flowLedger(shop.id);
    const single = await messagesOf([other!]);
    const all = [...rows, ...single];
    // The claim's 25 in one row; the run that took the one-message path in a row of its own.
    expect(ledger.map((l) => l.idempotency_key).sort()).toEqual([flowClaimDebitKey(claimToken, flow.id), `flow-msg-${single[0]!.id}`].sort());
    const charged = all.reduce((a, m) => a + m.credits, 0);
    expect(-ledger.reduce((a, l) => a + Number(l.amount), 0)).toBe(charged);
    // The rows chain: each balance_after is the one before it plus its amount (ids are uuids: the chain is the order).
    let balance = 500;
    for (const l of [...ledger].sort((a, b) => Number(b.balance_after) - Number(a.balance_after))) {
      balance += Number(l.amount);
      expect(Number(l.balance_after)).toBe(balance);
    }
    const money = await moneyState(env.db, shop.id);
    expect(money.balance).toBe(500 - charged);
    expect(money.ledgerSum).toBe(money.balance);
    expect(await flowLedger(shop.id)).toHaveLength(2);
  });

  it("one batched callback of a claim's reports is applied from its one row by the drain it starts (no row per report, no later callback needed)", async () => {
    const shop = await shopFor();
    const flow = await liveFlow(shop, oneStep);
    const contacts = await Promise.all([1, 2, 3].map(() => createContact(env.db, shop.id)));
    const runIds = await runsFor(shop, flow, contacts.map((c) => c.id), t0);
    await tick(t0);
    const sentRows = await env.db.$queryRaw<{ id: string; pmid: string }[]>`
      SELECT id::text, provider_message_id AS pmid FROM flow_messages WHERE run_id = ANY(${runIds}::bigint[]) AND status = 'sent'`;
    expect(sentRows).toHaveLength(3);
    const reports = sentRows.map((m) => ({ id: m.pmid, reference: `f${m.id}`, status: 'delivered', timestamp: new Date().toISOString() }));
    expect((await postSimulator(app, 'status', { reports })).body).toEqual({ received: 3, duplicates: 0 });
    // Applied from the batch's one row: no row of their own per report.
    await waitFor('every report applied', async () => (await messagesOf(runIds)).every((m) => m.status === 'delivered'), 10_000);
    const rows = await env.db.$queryRaw<{ topic: string; status: string }[]>`
      SELECT topic, status FROM webhook_events
       WHERE split_part(event_id, ':', 1) = ANY(${sentRows.map((m) => m.pmid)}::text[])
          OR (topic = 'status-batch' AND payload->'reports'->0->>'id' = ANY(${sentRows.map((m) => m.pmid)}::text[]))`;
    expect(rows).toEqual([{ topic: 'status-batch', status: 'processed' }]);
  });

  it("a claim's delivery reports are heap-only updates (no index names what a report changes); the attribution index still finds them", async () => {
    const shop = await shopFor();
    const flow = await liveFlow(shop, oneStep);
    const contacts = await Promise.all(Array.from({ length: 40 }, () => createContact(env.db, shop.id)));
    const runIds = await runsFor(shop, flow, contacts.map((c) => c.id), t0);
    await tick(t0);
    const sent = await env.db.$queryRaw<{ id: string; pmid: string }[]>`
      SELECT id::text, provider_message_id AS pmid FROM flow_messages WHERE run_id = ANY(${runIds}::bigint[]) AND status = 'sent' ORDER BY id`;
    expect(sent).toHaveLength(40);
    const reports = sent.map((m) => ({ eventId: null, messageId: m.id, providerMessageId: m.pmid, status: 'delivered' as const, errorCode: null }));
    // Counted inside the transaction that applies them, as one callback's batch is. The backend's
    // counters may still hold an earlier transaction's updates (flushed about once a second), hence the difference.
    const counters = (tx: Parameters<Parameters<typeof env.db.$transaction>[0]>[0]) =>
      tx.$queryRaw<{ updated: bigint; hot: bigint }[]>`
        SELECT pg_stat_get_xact_tuples_updated('flow_messages'::regclass) AS updated, pg_stat_get_xact_tuples_hot_updated('flow_messages'::regclass) AS hot`;
    const { updated, hot } = await env.db.$transaction(async (tx) => {
      const [before] = await counters(tx);
      const out = await applyFlowMessageReports(tx, reports);
      expect(out.every((o) => o.outcome === 'processed')).toBe(true);
      const [after] = await counters(tx);
      return { updated: Number(after!.updated - before!.updated), hot: Number(after!.hot - before!.hot) };
    });
    // Each one heap-only: the page its row was written to (fillfactor 45) had room for its new, longer version.
    expect(updated).toBe(40);
    expect(hot).toBe(40);
    expect((await messagesOf(runIds)).every((m) => m.status === 'delivered')).toBe(true);
    // Attribution's read (a contact's delivered messages by sent_at) goes through the partial index.
    const plan = await env.db.$transaction(async (tx) => {
      await tx.$executeRaw`SET LOCAL enable_seqscan = off`;
      return tx.$queryRaw<{ 'QUERY PLAN': string }[]>`
        EXPLAIN SELECT id FROM flow_messages WHERE contact_id = ${contacts[1]!.id}::uuid AND status = 'delivered' AND sent_at <= now() ORDER BY sent_at DESC LIMIT 1`;
    });
    expect(plan.map((p) => p['QUERY PLAN']).join('\n')).toContain('flow_messages_contact_id_sent_at_idx');
    // The open-message indexes find every `sending` row only because none carries a send time or an error code.
    for (const extra of [{ sentAt: new Date(), code: null }, { sentAt: null, code: 'x' }]) {
      await expect(env.db.$executeRaw`
        INSERT INTO flow_messages (run_id, step, shop_id, flow_id, version_id, contact_id, status, sent_at, error_code)
        SELECT run_id, 5, shop_id, flow_id, version_id, contact_id, 'sending', ${extra.sentAt}::timestamptz, ${extra.code}::text FROM flow_messages WHERE id = ${sent[0]!.id}::bigint`).rejects.toThrow(
        /flow_messages_open_check/,
      );
    }
  });

  it("erasure finds a contact's open messages through the open-message index's condition: each made final, its text dropped; a sent one is left as it is", async () => {
    const shop = await shopFor();
    const flow = await liveFlow(shop, twoSteps);
    const contact = await createContact(env.db, shop.id);
    const [runId] = await runsFor(shop, flow, [contact.id], t0);
    await tick(t0);
    // Two open rows of the same run (steps 2 and 3), as the one-message path leaves them: one claimed (it may have gone out), one released.
    await env.db.$executeRaw`
      INSERT INTO flow_messages (run_id, step, shop_id, flow_id, version_id, contact_id, status, body, claim_token)
      SELECT run_id, s, shop_id, flow_id, version_id, contact_id, 'sending', 'Hi', CASE WHEN s = 2 THEN ${randomUUID()}::uuid END
        FROM flow_messages, generate_series(2, 3) AS s WHERE run_id = ${runId}::bigint AND step = 0`;
    await env.db.$transaction((tx) =>
      redactCustomer(tx, { requestId: randomUUID(), shopId: shop.id, customer: { shopifyCustomerId: null, email: null, phone: contact.phone }, eventRowId: randomUUID(), phoneHashKey: env.config.PHONE_HASH_KEY }),
    );
    const rows = await env.db.$queryRaw<{ step: number; status: string; skip_reason: string | null; error_code: string | null; body: string | null }[]>`
      SELECT step, status, skip_reason, error_code, body FROM flow_messages WHERE run_id = ${runId}::bigint ORDER BY step`;
    expect(rows).toEqual([
      { step: 0, status: 'sent', skip_reason: null, error_code: null, body: null },
      { step: 2, status: 'unknown', skip_reason: null, error_code: 'erased', body: null },
      { step: 3, status: 'skipped', skip_reason: 'not_sendable', error_code: null, body: null },
    ]);
  });

  it('a repeated step job (the same claim again) moves nothing and sends nothing', async () => {
    const shop = await shopFor();
    const flow = await liveFlow(shop, twoSteps);
    const contacts = await Promise.all([1, 2, 3].map(() => createContact(env.db, shop.id)));
    const runIds = await runsFor(shop, flow, contacts.map((c) => c.id), t0);
    const first = await tick(t0);
    expect(requests).toHaveLength(1);
    const again = await executeFlowSteps(env.db, { runIds, claimToken: first.claimToken, now: () => t0, send: sendDeps() });
    expect(runIds.map((id) => again.get(id))).toEqual(runIds.map(() => ({ kind: 'lost' })));
    expect(requests).toHaveLength(1);
    expect((await flowLedger(shop.id)).map((l) => [l.idempotency_key, Number(l.amount)])).toEqual([[flowClaimDebitKey(first.claimToken, flow.id), -3]]);
    for (const r of await runsOf(runIds)) expect(r).toMatchObject({ status: 'active', current_step: 1 });
  });

  it('decides each run as the one-message path does: not subscribed, opted out in the shop scope, capped, out of credits (in claim order; a capped run costs nothing)', async () => {
    const shop = await shopFor({ credits: 5, smartSending: true });
    const flowA = await liveFlow(shop, oneStep);
    const ok = await createContact(env.db, shop.id);
    const pending = await createContact(env.db, shop.id, { consent: 'pending' });
    const suppressed = await createContact(env.db, shop.id);
    const capped = await createContact(env.db, shop.id);
    const poor = await Promise.all([1, 2, 3, 4, 5, 6].map(() => createContact(env.db, shop.id)));
    await env.db.$executeRaw`
      INSERT INTO sms_suppressions (phone_hmac, scope, shop_id, opted_out_at) VALUES (${phoneHmac(env.config.PHONE_HASH_KEY, suppressed.phone)}, ${shopScope(shop.id)}, ${shop.id}::uuid, now())`;
    // Texted an hour ago by a campaign: inside the shop's window.
    await env.db.$executeRaw`
      INSERT INTO contact_send_slots (contact_id, shop_id, campaign_id, last_at) VALUES (${capped.id}::uuid, ${shop.id}::uuid, NULL, ${new Date(t0.getTime() - 3_600_000)}::timestamptz)`;

    const [runOk, runPending, runSuppressed, runCapped, ...runPoor] = await runsFor(shop, flowA, [ok.id, pending.id, suppressed.id, capped.id, ...poor.map((c) => c.id)], t0);
    const { outcomes } = await tick(t0);

    expect(outcomes.get(runOk!)).toMatchObject({ kind: 'completed', message: 'sent' });
    expect(outcomes.get(runPending!)).toMatchObject({ kind: 'exited', reason: 'not_sendable', message: 'skipped' });
    expect(outcomes.get(runSuppressed!)).toMatchObject({ kind: 'exited', reason: 'not_sendable', message: 'skipped' });
    expect(outcomes.get(runCapped!)).toMatchObject({ kind: 'completed', message: 'skipped' });
    const rows = new Map((await messagesOf([runPending!, runSuppressed!, runCapped!])).map((m) => [m.run_id, m]));
    expect(rows.get(runPending!)).toMatchObject({ status: 'skipped', skip_reason: 'not_sendable', credits: 0 });
    expect(rows.get(runSuppressed!)).toMatchObject({ status: 'skipped', skip_reason: 'suppressed', credits: 0 });
    expect(rows.get(runCapped!)).toMatchObject({ status: 'skipped', skip_reason: 'frequency_cap', credits: 0 });

    // 5 credits, one segment each: the ok run took 1, the capped one none; of the 6 poor runs 4 go out, in claim order, the rest wait an hour.
    const poorOut = runPoor.map((id) => outcomes.get(id)!);
    expect(poorOut.map((o) => o.kind)).toEqual(['completed', 'completed', 'completed', 'completed', 'deferred', 'deferred']);
    expect(poorOut[4]).toMatchObject({ reason: 'insufficient_credits', dueAt: new Date(t0.getTime() + 3_600_000) });
    expect(await messagesOf(runPoor.slice(4))).toEqual([]);
    for (const r of await runsOf(runPoor.slice(4))) expect(r).toMatchObject({ status: 'active', current_step: 0, next_due_at: new Date(t0.getTime() + 3_600_000), claim_token: null });
    const money = await moneyState(env.db, shop.id);
    expect(money).toMatchObject({ balance: 0, ledgerSum: 0 });
    expect(requests).toHaveLength(1);
    expect(requests[0]!.map((m) => m.to)).toEqual([ok.phone, ...poor.slice(0, 4).map((c) => c.phone)]);
  });

  it("smart sending in a claim: a run's own earlier message does not cap its next one, another's does; an exempt flow sends; each slot records the send before it", async () => {
    const shop = await shopFor({ smartSending: true });
    const series = await liveFlow(shop, [{ type: 'send', body: 'Welcome!' }, { type: 'wait', duration: { amount: 1, unit: 'hours' } }, { type: 'send', body: 'Still there?' }]);
    const exempt = await liveFlow(shop, oneStep, { smartSending: { mode: 'exempt' } });
    const other = await liveFlow(shop, oneStep);
    const [a, b, c, d] = await Promise.all([1, 2, 3, 4].map(() => createContact(env.db, shop.id)));
    const t1 = new Date(t0.getTime() + 3_600_000);
    // d was texted 20 hours before t1: outside the 16-hour window.
    await env.db.$executeRaw`
      INSERT INTO contact_send_slots (contact_id, shop_id, campaign_id, last_at) VALUES (${d!.id}::uuid, ${shop.id}::uuid, NULL, ${new Date(t1.getTime() - 20 * 3_600_000)}::timestamptz)`;
    // a and b start the series at t0: their first messages take their slots.
    const [runA, runB] = await runsFor(shop, series, [a!.id, b!.id], t0);
    await tick(t0);
    await tick(t0); // the wait step: due an hour later
    expect((await runsOf([runA!, runB!])).map((r) => r.next_due_at)).toEqual([t1, t1]);
    // At t1: the series' second messages, b's and c's by the exempt flow, and d's by another flow; c was never texted.
    const [runBExempt, runC] = await runsFor(shop, exempt, [b!.id, c!.id], t1);
    const [runD] = await runsFor(shop, other, [d!.id], t1);
    const { outcomes } = await tick(t1);
    // a: its own message holds the slot, sent. b: its series message goes first (one run per contact per statement) ...
    expect(outcomes.get(runA!)).toMatchObject({ kind: 'completed', message: 'sent' });
    expect(outcomes.get(runB!)).toMatchObject({ kind: 'completed', message: 'sent' });
    expect(outcomes.get(runC!)).toMatchObject({ kind: 'completed', message: 'sent' });
    expect(outcomes.get(runD!)).toMatchObject({ kind: 'completed', message: 'sent' });
    // ... and its exempt one goes the one-message way in the same claim: exempt, sent though b was just texted.
    expect(outcomes.get(runBExempt!)).toMatchObject({ kind: 'completed', message: 'sent' });
    const slots = new Map(
      (await env.db.$queryRaw<{ contact_id: string; last_at: Date; prev_at: Date | null }[]>`
        SELECT contact_id::text, last_at, prev_at FROM contact_send_slots WHERE contact_id = ANY(${[a!.id, c!.id, d!.id]}::uuid[])`).map((r) => [r.contact_id, r]),
    );
    expect(slots.get(a!.id)).toMatchObject({ last_at: t1, prev_at: t0 });
    expect(slots.get(c!.id)).toMatchObject({ last_at: t1, prev_at: null });
    expect(slots.get(d!.id)).toMatchObject({ last_at: t1, prev_at: new Date(t1.getTime() - 20 * 3_600_000) });

    // Another flow at t1 + 1 minute: a, c and d were texted a minute ago by other runs: capped, free.
    const later = new Date(t1.getTime() + 60_000);
    const capped = await runsFor(shop, other, [a!.id, c!.id], later);
    const second = await tick(later);
    for (const id of capped) expect(second.outcomes.get(id)).toMatchObject({ kind: 'completed', message: 'skipped' });
    for (const m of await messagesOf(capped)) expect(m).toMatchObject({ status: 'skipped', skip_reason: 'frequency_cap', credits: 0 });
  });

  it('hands a run whose message row an earlier attempt left `sending` to the one-message path: recorded unknown, not re-sent, not charged', async () => {
    const shop = await shopFor();
    const flow = await liveFlow(shop, oneStep);
    const [a, b] = [await createContact(env.db, shop.id), await createContact(env.db, shop.id)];
    const [runA, runB] = await runsFor(shop, flow, [a.id, b.id], t0);
    // An attempt that died between its provider call and its settle.
    await env.db.$executeRaw`
      INSERT INTO flow_messages (run_id, step, shop_id, flow_id, version_id, contact_id, status, body, segments, encoding, claim_token, attempts)
      VALUES (${runA}::bigint, 0, ${shop.id}::uuid, ${flow.id}::uuid, ${flow.versionId}::uuid, ${a.id}::uuid, 'sending', 'Welcome', 1, 'GSM-7', ${randomUUID()}::uuid, 1)`;
    const { outcomes } = await tick(t0);
    expect(outcomes.get(runA!)).toMatchObject({ kind: 'completed', message: 'unknown' });
    expect(outcomes.get(runB!)).toMatchObject({ kind: 'completed', message: 'sent' });
    expect(requests.flat().map((m) => m.to)).toEqual([b.phone]);
    expect((await messagesOf([runA!]))[0]).toMatchObject({ status: 'unknown', error_code: 'lease_expired', credits: 0 });
  });

  it.each([
    ['off', false],
    ['on (the slots taken for the refused messages are given back)', true],
  ])('a provider that refuses the request, smart sending %s: every row released, every run due a minute later; the next claim sends each once', async (_label, smartSending) => {
    const shop = await shopFor({ smartSending });
    const flow = await liveFlow(shop, oneStep);
    const contacts = await Promise.all([1, 2, 3].map(() => createContact(env.db, shop.id)));
    const runIds = await runsFor(shop, flow, contacts.map((c) => c.id), t0);

    const refused = await tick(t0, sendDeps({ fail: 'refuse' }));
    for (const id of runIds) expect(refused.outcomes.get(id)).toMatchObject({ kind: 'deferred', reason: 'provider_retry', dueAt: new Date(t0.getTime() + 60_000) });
    // Certainly not sent: no row, no mark left on the runs.
    expect(await messagesOf(runIds)).toEqual([]);
    expect(await marksOf(runIds)).toEqual(runIds.map(() => null));
    expect((await moneyState(env.db, shop.id)).balance).toBe(1_000);

    const later = new Date(t0.getTime() + 60_000);
    const { outcomes } = await tick(later);
    // Released rows are certainly not sent: the one-message path sends each as new.
    for (const id of runIds) expect(outcomes.get(id)).toMatchObject({ kind: 'completed', message: 'sent' });
    expect(requests.slice(1).flat()).toHaveLength(3);
    expect((await moneyState(env.db, shop.id)).balance).toBe(1_000 - 3);
  });

  it.each([
    ['its flow is paused', 'pause'],
    ['its shop is uninstalled', 'uninstall'],
  ])('runs claimed before %s are held, not sent, by the step job that comes after; the flow live again sends each once', async (_label, what) => {
    const shop = await shopFor();
    const flow = await liveFlow(shop, oneStep);
    const contacts = await Promise.all([1, 2].map(() => createContact(env.db, shop.id)));
    const runIds = await runsFor(shop, flow, contacts.map((c) => c.id), t0);
    const claim = await claimDueRuns(env.db, { now: t0, limit: 1000, leaseMs: 60_000 });
    if (what === 'pause') expect((await post(shop, `/api/flows/${flow.id}/pause`)).status).toBe(200);
    else await env.db.$executeRaw`UPDATE shops SET status = 'uninstalled' WHERE id = ${shop.id}::uuid`;
    const outcomes = await executeFlowSteps(env.db, { runIds: claim.runIds, claimToken: claim.claimToken, now: () => t0, send: sendDeps() });
    for (const id of runIds) expect(outcomes.get(id)).toEqual({ kind: 'held', step: 0 });
    expect(requests).toEqual([]);
    for (const r of await runsOf(runIds)) expect(r).toMatchObject({ status: 'active', current_step: 0, claim_token: null });
    expect(await messagesOf(runIds)).toEqual([]);

    if (what === 'pause') expect((await post(shop, `/api/flows/${flow.id}/activate`)).status).toBe(200);
    else await env.db.$executeRaw`UPDATE shops SET status = 'active' WHERE id = ${shop.id}::uuid`;
    const { outcomes: later } = await tick(new Date(t0.getTime() + 1_000));
    for (const id of runIds) expect(later.get(id)).toMatchObject({ kind: 'completed', message: 'sent' });
    expect(requests.flat()).toHaveLength(2);
  });

  it('the same step job run twice at once (a stalled job handed to a second worker) sends each message once', async () => {
    const shop = await shopFor();
    const flow = await liveFlow(shop, oneStep);
    const contacts = await Promise.all(Array.from({ length: 20 }, () => createContact(env.db, shop.id)));
    const runIds = await runsFor(shop, flow, contacts.map((c) => c.id), t0);
    const claim = await claimDueRuns(env.db, { now: t0, limit: 1000, leaseMs: 60_000 });
    const job = () => executeFlowSteps(env.db, { runIds: claim.runIds, claimToken: claim.claimToken, now: () => t0, send: sendDeps() }).catch((e: unknown) => e);
    await Promise.all([job(), job()]);
    const sentTo = requests.flat().map((m) => m.to);
    expect(sentTo).toHaveLength(20);
    expect(new Set(sentTo).size).toBe(20);
    expect((await messagesOf(runIds)).filter((m) => m.status === 'sent')).toHaveLength(20);
    expect((await moneyState(env.db, shop.id)).balance).toBe(1_000 - 20);
  });

  it('a provider that answers nothing for the messages (not deduplicating): recorded unknown, not charged, runs moved on', async () => {
    const shop = await shopFor();
    const flow = await liveFlow(shop, oneStep);
    const contacts = await Promise.all([1, 2].map(() => createContact(env.db, shop.id)));
    const runIds = await runsFor(shop, flow, contacts.map((c) => c.id), t0);
    const { outcomes } = await tick(t0, sendDeps({ fail: 'silent' }));
    for (const id of runIds) expect(outcomes.get(id)).toMatchObject({ kind: 'completed', message: 'unknown' });
    for (const m of await messagesOf(runIds)) expect(m).toMatchObject({ status: 'unknown', error_code: 'missing_result', credits: 0 });
    expect((await moneyState(env.db, shop.id)).balance).toBe(1_000);
  });

  it('messages go with their runs: a contact deleted takes its runs and, through them, their messages; other runs keep theirs', async () => {
    const shop = await shopFor();
    const flow = await liveFlow(shop, twoSteps);
    const [gone, kept] = await Promise.all([1, 2].map(() => createContact(env.db, shop.id)));
    const runIds = await runsFor(shop, flow, [gone!.id, kept!.id], t0);
    await tick(t0);
    expect((await messagesOf(runIds)).map((m) => m.status)).toEqual(['sent', 'sent']);
    // No foreign key any more: the run's delete trigger does what its cascade did.
    await env.db.$executeRaw`DELETE FROM contacts WHERE id = ${gone!.id}::uuid`;
    expect((await runsOf(runIds)).map((r) => r.id)).toEqual([runIds[1]]);
    expect((await messagesOf(runIds)).map((m) => m.run_id)).toEqual([runIds[1]]);
  });

  describe('an attempt killed between its ONE provider request and its settle', () => {
    it('leaves each run its mark and no row; a report for it waits; the next claim records each unknown (not re-sent, not charged); a delivered report then charges it once', async () => {
      const shop = await shopFor();
      const flow = await liveFlow(shop, oneStep);
      const contacts = await Promise.all([1, 2].map(() => createContact(env.db, shop.id)));
      const runIds = await runsFor(shop, flow, contacts.map((c) => c.id), t0);
      await expect(tick(t0, sendDeps({ afterProviderCall: killed }))).rejects.toThrow('worker killed');
      expect(requests).toHaveLength(1);
      expect(await messagesOf(runIds)).toEqual([]);
      const marks = await marksOf(runIds);
      expect(requests[0]!.map((m) => m.reference)).toEqual(marks.map((m) => `f${m}`));

      // A report that beats the settle: not applicable yet, left to its retry.
      const ref = `f${marks[0]}`;
      const pmid = sim.referenceStats(ref).providerId!;
      const [early] = await env.db.$transaction((tx) => applyFlowMessageReports(tx, [{ eventId: null, messageId: marks[0]!, providerMessageId: pmid, status: 'delivered', errorCode: null }]));
      expect(early).toMatchObject({ outcome: 'not_ready' });

      // The lease ends; the next claim hands each run to the one-message path, which does not repeat a message a provider without deduplication may hold.
      const { outcomes } = await tick(new Date(t0.getTime() + 61_000));
      for (const id of runIds) expect(outcomes.get(id)).toMatchObject({ kind: 'completed', message: 'unknown' });
      expect(requests).toHaveLength(1);
      const rows = await messagesOf(runIds);
      expect(rows.map((m) => m.id)).toEqual(marks);
      for (const m of rows) expect(m).toMatchObject({ status: 'unknown', error_code: 'lease_expired', segments: 1, credits: 0 });
      expect(await marksOf(runIds)).toEqual([null, null]);
      expect((await moneyState(env.db, shop.id)).balance).toBe(1_000);

      // Four passes apply the same report at once (a retried callback): the row
      // moves in one of them, the others find it final; charged once.
      const passes = await Promise.all(
        [1, 2, 3, 4].map(() => env.db.$transaction((tx) => applyFlowMessageReports(tx, [{ eventId: null, messageId: marks[0]!, providerMessageId: pmid, status: 'delivered', errorCode: null }]))),
      );
      for (const [late] of passes) expect(late).toMatchObject({ outcome: 'processed' });
      const [again] = await env.db.$transaction((tx) => applyFlowMessageReports(tx, [{ eventId: null, messageId: marks[0]!, providerMessageId: pmid, status: 'delivered', errorCode: null }]));
      // A repeat finds it final: done with, not charged again.
      expect(again).toMatchObject({ outcome: 'processed' });
      expect((await messagesOf([runIds[0]!]))[0]).toMatchObject({ status: 'delivered', credits: 1 });
      const money = await moneyState(env.db, shop.id);
      expect(money.balance).toBe(999);
      expect(money.ledgerSum).toBe(money.balance);
    });

    it('at a provider that deduplicates by reference, the next claim repeats each message under its reference: one SMS each, sent and charged once', async () => {
      const { sim: dedup, url } = await startSimulator({ dedupsByReference: true });
      try {
        const provider = simulatorProvider(url, { dedupsByReference: true });
        const shop = await shopFor();
        const flow = await liveFlow(shop, oneStep);
        const contacts = await Promise.all([1, 2].map(() => createContact(env.db, shop.id)));
        const runIds = await runsFor(shop, flow, contacts.map((c) => c.id), t0);
        await expect(tick(t0, sendDeps({ provider, afterProviderCall: killed }))).rejects.toThrow('worker killed');
        const marks = await marksOf(runIds);

        const { outcomes } = await tick(new Date(t0.getTime() + 61_000), sendDeps({ provider }));
        for (const id of runIds) expect(outcomes.get(id)).toMatchObject({ kind: 'completed', message: 'sent' });
        // Repeated under the same references, one request per run on the one-message path.
        expect(requests.slice(1).flat().map((m) => m.reference).sort()).toEqual(marks.map((m) => `f${m}`).sort());
        for (const m of marks) expect(dedup.referenceStats(`f${m}`)).toMatchObject({ sends: 1, duplicates: 1 });
        const rows = await messagesOf(runIds);
        expect(rows.map((m) => m.id)).toEqual(marks);
        for (const m of rows) expect(m).toMatchObject({ status: 'sent', credits: 1 });
        const money = await moneyState(env.db, shop.id);
        expect(money.balance).toBe(998);
        expect(money.ledgerSum).toBe(money.balance);
      } finally {
        await dedup.stop();
      }
    });

    it('a STOP while the attempt is between its provider call and its settle ends the run: the message it may have sent is recorded unknown, and its late settle writes nothing', async () => {
      const shop = await shopFor();
      const flow = await liveFlow(shop, oneStep);
      const [stopper, other] = [await createContact(env.db, shop.id), await createContact(env.db, shop.id)];
      const runIds = await runsFor(shop, flow, [stopper.id, other.id], t0);
      const { outcomes } = await tick(
        t0,
        sendDeps({
          afterProviderCall: async () => {
            await env.db.$executeRaw`UPDATE contacts SET opted_out_at = now(), sms_consent = 'unsubscribed' WHERE id = ${stopper.id}::uuid`;
          },
        }),
      );
      expect(outcomes.get(runIds[0]!)).toEqual({ kind: 'lost' });
      expect(outcomes.get(runIds[1]!)).toMatchObject({ kind: 'completed', message: 'sent' });
      const [mark] = await marksOf([runIds[0]!]);
      expect(await runsOf([runIds[0]!])).toEqual([expect.objectContaining({ status: 'exited', exit_reason: 'opted_out' })]);
      expect(await messagesOf(runIds)).toEqual([
        expect.objectContaining({ id: mark, status: 'unknown', error_code: 'run_ended', segments: 1, credits: 0 }),
        expect.objectContaining({ status: 'sent', credits: 1 }),
      ]);
      expect((await moneyState(env.db, shop.id)).balance).toBe(999);
    });

    it('a run that exits before its send step looks at the mark (the exit condition holds by the next claim): its message recorded unknown, with the segments the attempt counted', async () => {
      const shop = await shopFor();
      const flow = await liveFlow(shop, oneStep, { exitCondition: { orderPlaced: true } });
      const contact = await createContact(env.db, shop.id);
      // Two runs: a claim of one takes the one-message path.
      const [run] = await runsFor(shop, flow, [contact.id, (await createContact(env.db, shop.id)).id], t0);
      await expect(tick(t0, sendDeps({ afterProviderCall: killed }))).rejects.toThrow('worker killed');
      const [mark] = await marksOf([run!]);
      expect(mark).not.toBeNull();
      await env.db.$executeRaw`
        INSERT INTO shopify_orders (shop_id, order_id, contact_id, ordered_at, total_minor, currency)
        VALUES (${shop.id}::uuid, ${`o-${randomUUID().slice(0, 8)}`}, ${contact.id}::uuid, ${new Date(t0.getTime() + 1_000)}, 1000, 'USD')`;
      const { outcomes } = await tick(new Date(t0.getTime() + 61_000));
      expect(outcomes.get(run!)).toMatchObject({ kind: 'exited', reason: 'order_placed' });
      expect(await messagesOf([run!])).toEqual([expect.objectContaining({ id: mark, status: 'unknown', error_code: 'lease_expired', segments: 1, credits: 0 })]);
      expect(await marksOf([run!])).toEqual([null]);
    });
  });
});
