// Flows at scale (issue 17, item 6), on the production-mode stack (reports
// on), like `settled` and `fairness`:
//
// 1. Burst: N runs (100 000) of a live one-step send flow, all due at the
//    same moment: seeded set-based (one INSERT … SELECT over the shop's
//    contacts) while the flow is a draft, so none is claimable yet, then the
//    flow is activated through the API; that request is the runs' due time.
//    Measured: due → the last run's settle (every run completed, its message
//    accepted by the provider and recorded `sent`), runs/s, and that each run
//    sent exactly one message (one final row each, and the provider accepted
//    exactly N messages meanwhile: no duplicate).
// 2. Cost: CPU of every process (ResourceMeter) and the Postgres bytes the
//    burst wrote (relation sizes before the seed and once every report is
//    applied), per flow message, beside the same figures for a campaign of
//    the same size and text, sent alone (runSettled), until settled too.
// 3. Lag: runs becoming due continuously (`rate`/s, staggered next_due_at)
//    while a 100 000-recipient campaign of another shop sends; lag = the
//    moment the run's step executed (flow_messages.sent_at, the step's clock)
//    − its next_due_at (kept as triggered_at: a send-first flow is due when
//    triggered); p50/p99 over the runs due while the campaign was sending,
//    and the campaign's throughput meanwhile.

import type { ApiClient } from '../../lib/session-client';
import { sleep, type Stack } from '../../lib/stack';
import { relationBytes, type BenchDb } from '../bench-db';
import { percentile } from '../load';
import { ResourceMeter, every, type CpuBreakdown } from '../meter';
import { CAMPAIGN_BODY } from './send';
import { runSettled, simulatorStats } from './settled';

/** What a flow message writes (its run is one row of flow_runs: a one-step flow has one run per message). */
export const FLOW_TABLES = ['flow_runs', 'flow_messages', 'credit_transactions', 'contact_send_slots', 'webhook_events', 'outbox_events'];
/** What a campaign recipient writes. */
export const CAMPAIGN_TABLES = ['campaigns', 'campaign_recipients', 'campaign_batches', 'credit_reservations', 'credit_transactions', 'contact_send_slots', 'webhook_events', 'outbox_events'];

export interface FlowCost {
  messages: number;
  cpu: CpuBreakdown;
  cpuMsPerMessage: number;
  otherCpuSeconds: number;
  /** Growth per table, bytes (as written: dead row versions included, the server runs without autovacuum). */
  bytes: Record<string, number>;
  bytesPerMessage: number;
  /** Start → every message final and its report applied. */
  settledMs: number;
}

export interface FlowsRun {
  burst: {
    runs: number;
    /** Runs ended (completed or exited) when measured. */
    ended: number;
    completed: number;
    /** Runs with exactly one message that the provider accepted (sent, delivered or undelivered). */
    runsWithOneSentMessage: number;
    /** Messages the provider accepted over the burst (the simulator's count): N when none went twice. */
    providerAccepted: number;
    exactlyOnce: boolean;
    finished: boolean;
    /** Due (activation request) → the last run settled. */
    seconds: number;
    runsPerSecond: number;
    /** The first and the last run's step, after the due time. */
    firstStepMs: number;
    cost: FlowCost;
  };
  campaign: FlowCost & { size: number; recipientsPerSecond: number };
  lag: {
    offeredRate: number;
    runs: number;
    sent: number;
    /** Runs due while the campaign was sending (between its enqueue request and completed_at). */
    duringCampaign: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    /** Over every lag run, campaign or not. */
    allP50Ms: number;
    allP99Ms: number;
    /** Due → the run's settle (message recorded sent), over the runs due while the campaign sent. */
    settleP99Ms: number;
    campaignSize: number;
    campaignWallMs: number;
    campaignPerSecond: number;
  };
}

const STEPS = [{ type: 'send', body: CAMPAIGN_BODY }];

async function createLiveFlow(api: ApiClient, name: string, key: string, activate: boolean): Promise<string> {
  const created = await api.call<{ id: string }>('POST', '/flows', { name, trigger: { type: 'contact_subscribed' }, steps: STEPS }, { 'Idempotency-Key': `${key}-create` });
  if (created.status !== 201) throw new Error(`POST /flows answered ${created.status}: ${JSON.stringify(created.body)}`);
  if (activate) await activateFlow(api, created.body.id, key);
  return created.body.id;
}

async function activateFlow(api: ApiClient, id: string, key: string): Promise<void> {
  const res = await api.call('POST', `/flows/${id}/activate`, {}, { 'Idempotency-Key': `${key}-activate` });
  if (res.status !== 200) throw new Error(`activate answered ${res.status}: ${JSON.stringify(res.body)}`);
}

async function pauseFlow(api: ApiClient, id: string, key: string): Promise<void> {
  await api.call('POST', `/flows/${id}/pause`, {}, { 'Idempotency-Key': `${key}-pause` });
}

/** One set-based INSERT: `count` runs of the flow's current version over the shop's first contacts, due at `dueAt` + i/rate s. */
async function seedRuns(db: BenchDb, o: { flowId: string; shopId: string; count: number; subject: string; dueAt: Date; ratePerSecond: number | null }): Promise<void> {
  await db.pool.query(
    `INSERT INTO flow_runs (flow_id, version_id, shop_id, contact_id, trigger_type, trigger_subject, triggered_at, status, current_step, next_due_at)
     SELECT f.id, f.current_version_id, f.shop_id, c.id, 'contact_subscribed', $3, d.due, 'active', 0, d.due
       FROM flows f
       JOIN LATERAL (SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM contacts WHERE shop_id = f.shop_id ORDER BY id LIMIT $4) c ON true
       CROSS JOIN LATERAL (SELECT $5::timestamptz + CASE WHEN $6::float8 IS NULL THEN interval '0' ELSE make_interval(secs => c.i / $6::float8) END AS due) d
      WHERE f.id = $1 AND f.shop_id = $2`,
    [o.flowId, o.shopId, o.subject, o.count, o.dueAt, o.ratePerSecond],
  );
}

async function waitReportsApplied(stack: Stack, db: BenchDb, deadline: number): Promise<void> {
  for (;;) {
    stack.assertAlive();
    const s = await simulatorStats(stack);
    const { rows } = await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM webhook_events WHERE status = 'received' AND topic IN ('status', 'status-batch') AND provider LIKE 'sms-%'`);
    if (s.dlrPending === 0 && s.dlrInFlight === 0 && Number(rows[0]?.n ?? 0) === 0) return;
    if (Date.now() > deadline) throw new Error(`delivery reports not applied in time (${JSON.stringify(s)}, ${rows[0]?.n} stored unapplied)`);
    await sleep(200);
  }
}

const growth = (before: Record<string, number>, after: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.keys(after).map((t) => [t, (after[t] ?? 0) - (before[t] ?? 0)]));
const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0);

interface RunCounts {
  ended: number;
  completed: number;
  open: number;
  last: Date | null;
}

/**
 * Whether any run of the flow is still active: what the waits poll. Counting
 * every run instead (runCounts) took ~55 ms of Postgres per poll at 100 000
 * runs, a quarter of Postgres' time during the burst it was measuring.
 */
async function hasOpenRuns(db: BenchDb, flowId: string): Promise<boolean> {
  const { rows } = await db.pool.query<{ open: boolean }>(`SELECT EXISTS (SELECT 1 FROM flow_runs WHERE flow_id = $1 AND status = 'active') AS open`, [flowId]);
  return rows[0]?.open ?? false;
}

async function runCounts(db: BenchDb, flowId: string): Promise<RunCounts> {
  const { rows } = await db.pool.query<{ ended: string; completed: string; open: string; last: Date | null }>(
    `SELECT count(*) FILTER (WHERE status <> 'active') AS ended, count(*) FILTER (WHERE status = 'completed') AS completed,
            count(*) FILTER (WHERE status = 'active') AS open, max(updated_at) FILTER (WHERE status <> 'active') AS last
       FROM flow_runs WHERE flow_id = $1`,
    [flowId],
  );
  const r = rows[0];
  return { ended: Number(r?.ended ?? 0), completed: Number(r?.completed ?? 0), open: Number(r?.open ?? 0), last: r?.last ?? null };
}

export async function runFlows(
  stack: Stack,
  db: BenchDb,
  o: {
    flows: { api: ApiClient; shopId: string };
    campaign: { api: ApiClient; size: number };
    runs: number;
    lagRate: number;
    lagSeconds: number;
    /** Reports per callback the simulator posts (as the stack was started). */
    dlrBatch: number;
    redisPid: number | null;
    label: string;
    timeoutMs: number;
    log: (l: string) => void;
  },
): Promise<FlowsRun> {
  // Flows of earlier bench runs go, with their runs and messages (this shop is the bench's own): paused
  // first, so no step job of this stack's worker is still taking their runs when they are deleted.
  await db.pool.query(`UPDATE flows SET status = 'paused' WHERE shop_id = $1 AND status = 'live'`, [o.flows.shopId]);
  for (let attempt = 1; ; attempt++) {
    await sleep(2_000);
    try {
      await db.pool.query('DELETE FROM flows WHERE shop_id = $1', [o.flows.shopId]);
      break;
    } catch (err) {
      // A step job that had claimed runs before the pause (deadlock_detected): again once it is done.
      if ((err as { code?: string }).code !== '40P01' || attempt >= 5) throw err;
    }
  }
  await db.pool.query('VACUUM ANALYZE flow_runs, flow_messages, contact_send_slots');

  // Not measured: the first flow messages of the processes (prepared statements, code paths compiled).
  const warm = await createLiveFlow(o.flows.api, `Bench warm ${o.label}`, `bench-flow-warm-${o.label}`, false);
  await seedRuns(db, { flowId: warm, shopId: o.flows.shopId, count: 1_000, subject: 'warm', dueAt: new Date(), ratePerSecond: null });
  await activateFlow(o.flows.api, warm, `bench-flow-warm-${o.label}`);
  for (const deadline = Date.now() + 120_000; await hasOpenRuns(db, warm); ) {
    if (Date.now() > deadline) throw new Error('the 1 000 warm-up flow runs did not end within 120 s');
    await sleep(200);
  }
  await waitReportsApplied(stack, db, Date.now() + 60_000);

  // 1. Burst.
  const burstFlow = await createLiveFlow(o.flows.api, `Bench burst ${o.label}`, `bench-flow-burst-${o.label}`, false);
  await db.pool.query('CHECKPOINT').catch(() => undefined);
  const bytesBefore = await relationBytes(db, FLOW_TABLES);
  const seedStart = Date.now();
  // Due at the start of this minute: already due, held only by the draft status until the activation.
  await seedRuns(db, { flowId: burstFlow, shopId: o.flows.shopId, count: o.runs, subject: 'burst', dueAt: new Date(Math.floor(Date.now() / 60_000) * 60_000), ratePerSecond: null });
  o.log(`  seeded ${o.runs.toLocaleString('en-US')} due runs in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`);
  await db.pool.query('VACUUM ANALYZE flow_runs').catch(() => undefined);
  await db.pool.query('CHECKPOINT').catch(() => undefined);
  const simBefore = await simulatorStats(stack);
  const meter = new ResourceMeter(stack, db, o.redisPid);
  await meter.sample();
  const stopSampling = every(200, () => meter.sample());
  const t0 = Date.now();
  let counts: RunCounts;
  let finished = true;
  try {
    await activateFlow(o.flows.api, burstFlow, `bench-flow-burst-${o.label}`);
    for (;;) {
      stack.assertAlive();
      if (!(await hasOpenRuns(db, burstFlow))) {
        counts = await runCounts(db, burstFlow);
        break;
      }
      if (Date.now() - t0 > o.timeoutMs) {
        finished = false;
        // The rest holds where it is; the later phases measure without it.
        await pauseFlow(o.flows.api, burstFlow, `bench-flow-burst-${o.label}`);
        counts = await runCounts(db, burstFlow);
        break;
      }
      await sleep(250);
    }
    const acceptedAtEnd = (await simulatorStats(stack)).messagesAccepted;
    await waitReportsApplied(stack, db, Date.now() + o.timeoutMs);
    await stopSampling();
    await meter.sample();
    const settledMs = Date.now() - t0;
    const bytesAfter = await relationBytes(db, FLOW_TABLES);
    const { rows: check } = await db.pool.query<{ one_sent: string; first: Date | null }>(
      `SELECT count(*) FILTER (WHERE m.n = 1 AND m.sent = 1) AS one_sent, min(m.first) AS first
         FROM flow_runs r
         JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE status IN ('sent', 'delivered', 'undelivered')) AS sent, min(sent_at) AS first
                         FROM flow_messages WHERE run_id = r.id) m ON true
        WHERE r.flow_id = $1`,
      [burstFlow],
    );
    const oneSent = Number(check[0]?.one_sent ?? 0);
    const providerAccepted = acceptedAtEnd - simBefore.messagesAccepted;
    const lastMs = counts.last ? counts.last.getTime() - t0 : NaN;
    const seconds = (finished ? lastMs : Date.now() - t0) / 1000;
    const cpu = meter.cpu();
    const bytes = growth(bytesBefore, bytesAfter);
    const burst: FlowsRun['burst'] = {
      runs: o.runs,
      ended: counts.ended,
      completed: counts.completed,
      runsWithOneSentMessage: oneSent,
      providerAccepted,
      exactlyOnce: oneSent === counts.ended && providerAccepted === oneSent,
      finished,
      seconds,
      runsPerSecond: counts.ended / seconds,
      firstStepMs: (check[0]?.first?.getTime() ?? NaN) - t0,
      cost: {
        messages: oneSent,
        cpu,
        cpuMsPerMessage: (cpu.total * 1000) / Math.max(1, oneSent),
        otherCpuSeconds: meter.otherSeconds(),
        bytes,
        bytesPerMessage: sum(bytes) / Math.max(1, oneSent),
        settledMs,
      },
    };
    o.log(
      `  burst: ${counts.ended.toLocaleString('en-US')}/${o.runs.toLocaleString('en-US')} runs ended in ${seconds.toFixed(2)} s = ${Math.round(burst.runsPerSecond).toLocaleString('en-US')}/s` +
        `${finished ? '' : ' (NOT finished: timed out, flow paused)'}; one sent message each: ${oneSent.toLocaleString('en-US')}, provider accepted ${providerAccepted.toLocaleString('en-US')}; ` +
        `CPU ${burst.cost.cpuMsPerMessage.toFixed(3)} ms/message, ${Math.round(burst.cost.bytesPerMessage)} B/message`,
    );

    // 2. The campaign's cost, same text and size, alone.
    const cBefore = await relationBytes(db, CAMPAIGN_TABLES);
    const settled = await runSettled(stack, db, o.campaign.api, { size: o.campaign.size, run: 0, dlrBatch: o.dlrBatch, redisPid: o.redisPid, timeoutMs: o.timeoutMs, label: `${o.label}-flows-cost`, log: () => undefined });
    const cBytes = growth(cBefore, await relationBytes(db, CAMPAIGN_TABLES));
    const campaign: FlowsRun['campaign'] = {
      size: settled.recipients,
      messages: settled.recipients,
      cpu: settled.cpu,
      cpuMsPerMessage: settled.cpuMsPerRecipient,
      otherCpuSeconds: settled.otherCpuSeconds,
      bytes: cBytes,
      bytesPerMessage: sum(cBytes) / Math.max(1, settled.recipients),
      settledMs: settled.settledMs,
      recipientsPerSecond: settled.settledPerSecond,
    };
    o.log(`  campaign of ${campaign.size.toLocaleString('en-US')} alone: CPU ${campaign.cpuMsPerMessage.toFixed(3)} ms/recipient, ${Math.round(campaign.bytesPerMessage)} B/recipient`);

    // 3. Lag while a campaign sends.
    const lag = await lagWhileCampaignSends(stack, db, o);
    return { burst, campaign, lag };
  } finally {
    await stopSampling();
  }
}

async function lagWhileCampaignSends(
  stack: Stack,
  db: BenchDb,
  o: { flows: { api: ApiClient; shopId: string }; campaign: { api: ApiClient; size: number }; runs: number; lagRate: number; lagSeconds: number; label: string; timeoutMs: number; log: (l: string) => void },
): Promise<FlowsRun['lag']> {
  const lagFlow = await createLiveFlow(o.flows.api, `Bench lag ${o.label}`, `bench-flow-lag-${o.label}`, true);
  const count = Math.min(o.runs, Math.round(o.lagRate * o.lagSeconds));
  // Due from a few seconds ahead (the seed commits first), one every 1/rate s.
  const dueFrom = new Date(Date.now() + 3_000);
  await seedRuns(db, { flowId: lagFlow, shopId: o.flows.shopId, count, subject: 'lag', dueAt: dueFrom, ratePerSecond: o.lagRate });
  if (Date.now() > dueFrom.getTime()) o.log(`  note: the lag runs were seeded ${Date.now() - dueFrom.getTime()} ms after the first came due`);
  await sleep(Math.max(0, dueFrom.getTime() + 1_000 - Date.now()));

  const created = await o.campaign.api.call<{ id: string }>('POST', '/campaigns', { name: `Bench flows lag ${o.label}`, body: CAMPAIGN_BODY, audience: { tags: ['bench'] } });
  if (created.status !== 201) throw new Error(`POST /campaigns answered ${created.status}: ${JSON.stringify(created.body)}`);
  const enqueuedAt = Date.now();
  const enq = await o.campaign.api.call('POST', `/campaigns/${created.body.id}/enqueue`, {}, { 'Idempotency-Key': `bench-flows-lag-${o.label}` });
  if (enq.status !== 202) throw new Error(`enqueue answered ${enq.status}: ${JSON.stringify(enq.body)}`);

  let completedAt: Date | null = null;
  const deadline = dueFrom.getTime() + o.lagSeconds * 1000 + o.timeoutMs;
  for (;;) {
    stack.assertAlive();
    if (!completedAt) {
      const { rows } = await db.pool.query<{ status: string; completed_at: Date | null }>('SELECT status, completed_at FROM campaigns WHERE id = $1', [created.body.id]);
      if (rows[0]?.status === 'completed') completedAt = rows[0].completed_at;
      else if (rows[0] && ['cancelled', 'failed'].includes(rows[0].status)) throw new Error(`campaign ended ${rows[0].status}`);
    }
    if (completedAt && !(await hasOpenRuns(db, lagFlow))) break;
    if (Date.now() > deadline) {
      await pauseFlow(o.flows.api, lagFlow, `bench-flow-lag-${o.label}`);
      o.log('  note: lag phase timed out; runs not ended are counted unsent');
      break;
    }
    await sleep(200);
  }
  const sendingUntil = completedAt?.getTime() ?? Date.now();
  const { rows } = await db.pool.query<{ due: Date; lag_ms: number | null; settle_ms: number | null }>(
    `SELECT r.triggered_at AS due, extract(epoch FROM m.sent_at - r.triggered_at) * 1000 AS lag_ms,
            CASE WHEN r.status <> 'active' THEN extract(epoch FROM r.updated_at - r.triggered_at) * 1000 END AS settle_ms
       FROM flow_runs r LEFT JOIN flow_messages m ON m.run_id = r.id AND m.status IN ('sent', 'delivered', 'undelivered')
      WHERE r.flow_id = $1`,
    [lagFlow],
  );
  const asc = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
  // A run not sent counts as infinitely late.
  const lagOf = (r: (typeof rows)[number]): number => (r.lag_ms === null ? Infinity : Math.max(0, Number(r.lag_ms)));
  const during = rows.filter((r) => r.due.getTime() >= enqueuedAt && r.due.getTime() <= sendingUntil);
  const d = asc(during.map(lagOf));
  const all = asc(rows.map(lagOf));
  const settle = asc(during.map((r) => (r.settle_ms === null ? Infinity : Number(r.settle_ms))));
  const wall = sendingUntil - enqueuedAt;
  const out: FlowsRun['lag'] = {
    offeredRate: o.lagRate,
    runs: rows.length,
    sent: rows.filter((r) => r.lag_ms !== null).length,
    duringCampaign: during.length,
    p50Ms: percentile(d, 50),
    p99Ms: percentile(d, 99),
    maxMs: d.at(-1) ?? NaN,
    allP50Ms: percentile(all, 50),
    allP99Ms: percentile(all, 99),
    settleP99Ms: percentile(settle, 99),
    campaignSize: o.campaign.size,
    campaignWallMs: wall,
    campaignPerSecond: (o.campaign.size / wall) * 1000,
  };
  o.log(
    `  lag: ${out.duringCampaign.toLocaleString('en-US')} runs due while the campaign sent (${o.lagRate}/s): p50 ${Math.round(out.p50Ms)} ms, p99 ${Math.round(out.p99Ms)} ms, max ${Math.round(out.maxMs)} ms` +
      ` (to the settle p99 ${Math.round(out.settleP99Ms)} ms); campaign ${o.campaign.size.toLocaleString('en-US')} in ${(wall / 1000).toFixed(2)} s = ${Math.round(out.campaignPerSecond).toLocaleString('en-US')}/s`,
  );
  return out;
}
