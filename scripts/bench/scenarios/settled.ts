// Production mode, delivery reports on: the stack as `npm run start:*` runs
// it (compiled, NODE_ENV=production, LOG_LEVEL=info, production secrets, the
// provider adapter pointed at the simulator), the simulator posting a
// delivery report for every accepted message after SIMULATOR_DLR_DELAY_MS
// (200 ms), one per request or batched (SIMULATOR_DLR_BATCH). One campaign,
// created and enqueued through the HTTP API, followed until every recipient
// has its final delivery status (settled), not only until `completed`.
//
// Measured per run: settled throughput (enqueue request → the last
// recipient's final_at), time to first message (enqueue request → the first
// message the provider accepted, polled every 20 ms), report ingest (reports
// stored per second over the ingest window, from webhook_events.received_at;
// request latency: p99 and the share within 50 ms from the api's latency
// histogram scraped before and after, p50 and the worst second's p99 from its
// per-second access summary), CPU
// of every process (/proc/<pid>/stat: api, worker(s), simulator, Postgres
// backends and background processes, Redis) per recipient, and log bytes per
// recipient (every process's log file grown over the run).

import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { tokenAad } from '../../../domain/shops/access-token/token-cipher';
import { createTokenCipher } from '../../../lib/token-cipher';
import { generatedProductionSecrets } from '../../lib/production-env';
import type { ApiClient } from '../../lib/session-client';
import { sleep, type Stack } from '../../lib/stack';
import { vacuumRunTables, type BenchDb } from '../bench-db';
import { apiLatency } from '../api-latency';
import { bucketsBetween, quantileOf, shareAtMost, type Buckets } from '../histogram';
import { ResourceMeter, every, type CpuBreakdown } from '../meter';
import { CAMPAIGN_BODY } from './send';

export interface SettledRun {
  size: number;
  run: number;
  campaignId: string;
  recipients: number;
  /** Reports per callback the simulator posted (1: one request each). */
  dlrBatch: number;
  /** Enqueue request → campaign completed_at (every message sent). */
  sentMs: number;
  /** Enqueue request → the last recipient's final status (final_at). */
  settledMs: number;
  settledPerSecond: number;
  /** Enqueue request → first message accepted by the provider. */
  firstSendMs: number;
  /** Recipients by final status. */
  statuses: Record<string, number>;
  /** Merchant pages open on the campaign (`--stats-pollers`): each polls its stats 1 s after the last answer, as the admin does. */
  statsPolls?: { pollers: number; polls: number; p50Ms: number; maxMs: number };
  reports: {
    stored: number;
    /** Reports stored ÷ (last stored − first stored). */
    ingestPerSecond: number;
    /** Callback requests, and their latency (the api's per-second summaries: median of the p50s). */
    requests: number;
    p50Ms: number;
    /** p99 of every callback of the run (the api's latency histogram, interpolated inside its bucket). */
    p99Ms: number;
    /** Share of the run's callbacks answered within 50 ms (exact: a bucket bound). */
    within50Ms: number;
    /** The worst one-second p99 of the api's per-second summaries (stricter than the run's p99). */
    worstSecondP99Ms: number;
    /** Callback requests not answered 2xx. */
    errors: number;
  };
  cpu: CpuBreakdown;
  cpuMsPerRecipient: number;
  otherCpuSeconds: number;
  logBytes: Record<string, number>;
  logBytesPerRecipient: number;
  /** Per second since the enqueue request: messages sent (sent_at) and recipients reaching their final status (final_at). */
  perSecond: { sent: number[]; settled: number[] };
}

/** Counts per whole second since `t0` of a recipient timestamp column, read after the run (no polling during it). */
async function perSecond(db: BenchDb, campaignId: string, column: 'sent_at' | 'final_at', t0: number): Promise<number[]> {
  const { rows } = await db.pool.query<{ s: number; n: string }>(
    `SELECT floor(extract(epoch FROM ${column}) - $2::float8 / 1000)::int AS s, count(*) AS n
       FROM campaign_recipients WHERE campaign_id = $1 AND ${column} IS NOT NULL GROUP BY 1 ORDER BY 1`,
    [campaignId, t0],
  );
  const out: number[] = [];
  for (const r of rows) if (r.s >= 0) out[r.s] = Number(r.n);
  return Array.from(out, (n) => n ?? 0);
}

const fileSize = (f: string): number => {
  try {
    return statSync(f).size;
  } catch {
    return 0;
  }
};

/**
 * Empties the simulator's ledger (every reference it ever accepted, kept for
 * deduplication; `/_reset` also clears its request log and faults, which
 * this scenario never sets) between runs, once the previous run's reports
 * are all posted (skipped while any is due). A provider's cost does not grow with
 * the campaigns we sent it before; the simulator's did, and it counts in CPU
 * per recipient: in one `--size 1m --repeat 4` its CPU for the four 1 000 000
 * runs rose 8.44, 8.57, 9.33, 10.06 s as its Map grew past 3 M references
 * (rehashed as it grows, traced at every major GC).
 */
async function resetSimulator(stack: Stack): Promise<void> {
  // Not while reports are still due (a flow burst's, just before): the reset drops them.
  const s = await simulatorStats(stack);
  if (s.dlrPending > 0 || s.dlrInFlight > 0) return;
  const res = await fetch(`${stack.urls.simulator}/_reset`, { method: 'POST', signal: AbortSignal.timeout(5_000) });
  if (!res.ok) throw new Error(`simulator /_reset answered ${res.status}`);
}

export async function simulatorStats(stack: Stack): Promise<{ messagesAccepted: number; dlrQueued: number; dlrPosted: number; dlrFailed: number; dlrDropped: number; dlrPending: number; dlrInFlight: number }> {
  const res = await fetch(`${stack.urls.simulator}/_stats?detail=1`, { signal: AbortSignal.timeout(2_000) });
  const body = (await res.json()) as Record<string, unknown> & { detail?: Record<string, unknown> };
  const d = { ...body, ...(body.detail ?? {}) } as Record<string, unknown>;
  const n = (k: string): number => Number(d[k] ?? 0);
  return {
    messagesAccepted: n('messagesAccepted'),
    dlrQueued: n('dlrQueued'),
    dlrPosted: n('dlrPosted'),
    dlrFailed: n('dlrFailed'),
    dlrDropped: n('dlrDropped'),
    dlrPending: n('dlrPending'),
    dlrInFlight: n('dlrInFlight'),
  };
}

/** The api's latency histogram of the delivery-report callbacks, every status. */
const callbackLatency = (stack: Stack): Promise<Buckets> =>
  apiLatency(stack, (labels) => /route="\/webhooks\/sms\/[^"]+\/status"/.test(labels) && labels.includes('method="POST"'));

interface SummaryLine {
  time: number | string;
  route: string;
  requests: number;
  status: Record<string, number>;
  p50Ms: number;
  p99Ms: number;
}

/** The api's per-second access summaries (http-logger.ts) of the delivery-report route, written after `since`. */
function reportSummaries(log: string, since: number, readFrom: number): SummaryLine[] {
  const text = readTail(log, readFrom);
  const out: SummaryLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('"request summary"')) continue;
    try {
      const l = JSON.parse(line) as SummaryLine & { msg: string };
      const at = typeof l.time === 'number' ? l.time : Date.parse(l.time);
      if (at >= since && /^\/webhooks\/sms\/[^/]+\/status$/.test(l.route)) out.push(l);
    } catch {
      // a partial line at the end
    }
  }
  return out;
}

function readTail(file: string, from: number): string {
  const size = fileSize(file);
  if (size <= from) return '';
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(size - from);
    readSync(fd, buf, 0, buf.length, from);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * `n` merchant pages open on the campaign while it sends: each polls
 * `GET /campaigns/:id/stats` 1 s after the previous answer, as the admin's
 * campaign page does. `close` stops them and gives their polls' latency.
 */
function openStatsPages(api: ApiClient, campaignId: string, n: number): { close: () => Promise<SettledRun['statsPolls']> } {
  if (n === 0) return { close: async () => undefined };
  let open = true;
  const took: number[] = [];
  const page = async (): Promise<void> => {
    while (open) {
      const t = performance.now();
      const r = await api.call('GET', `/campaigns/${campaignId}/stats`);
      if (r.status !== 200) throw new Error(`GET /campaigns/:id/stats answered ${r.status}`);
      took.push(performance.now() - t);
      if (open) await sleep(1_000);
    }
  };
  const running = Array.from({ length: n }, () => page());
  let closed: Promise<SettledRun['statsPolls']> | null = null;
  return {
    close: () =>
      (closed ??= (async () => {
        open = false;
        await Promise.all(running);
        const sorted = [...took].sort((a, b) => a - b);
        return { pollers: n, polls: took.length, p50Ms: sorted[Math.floor(sorted.length / 2)] ?? NaN, maxMs: sorted[sorted.length - 1] ?? NaN };
      })()),
  };
}

export async function runSettled(
  stack: Stack,
  db: BenchDb,
  api: ApiClient,
  o: { size: number; run: number; dlrBatch: number; redisPid: number | null; timeoutMs: number; label: string; log: (l: string) => void; statsPollers?: number },
): Promise<SettledRun> {
  const created = await api.call<{ id: string }>('POST', '/campaigns', { name: `Bench settled ${o.label}`, body: CAMPAIGN_BODY, audience: { tags: ['bench'] } });
  if (created.status !== 201) throw new Error(`POST /campaigns answered ${created.status}: ${JSON.stringify(created.body)}`);
  const campaignId = created.body.id;
  await vacuumRunTables(db);
  await db.pool.query('CHECKPOINT').catch(() => undefined);

  const logs = stack.services.map((s) => ({ name: s.name, log: s.log, before: fileSize(s.log) }));
  const apiLog = stack.service('api').log;
  const apiLogBefore = fileSize(apiLog);
  await resetSimulator(stack);
  const simBefore = await simulatorStats(stack);
  const latencyBefore = await callbackLatency(stack);
  const meter = new ResourceMeter(stack, db, o.redisPid);
  await meter.sample();
  const stopSampling = every(200, () => meter.sample());
  const t0 = Date.now();
  let pages = openStatsPages(api, campaignId, 0);
  try {
    const enq = await api.call('POST', `/campaigns/${campaignId}/enqueue`, {}, { 'Idempotency-Key': `bench-settled-${o.label}` });
    if (enq.status !== 202) throw new Error(`enqueue answered ${enq.status}: ${JSON.stringify(enq.body)}`);
    pages = openStatsPages(api, campaignId, o.statsPollers ?? 0);

    // Time to first message: the provider's count, polled finely until it moves.
    let firstSendMs = NaN;
    while (Number.isNaN(firstSendMs)) {
      if ((await simulatorStats(stack)).messagesAccepted > simBefore.messagesAccepted) firstSendMs = Date.now() - t0;
      else if (Date.now() - t0 > o.timeoutMs) throw new Error(`no message of the ${o.size} campaign left within ${o.timeoutMs / 1000} s`);
      else await sleep(20);
    }

    // Sent: the campaign completes.
    let completedAt: Date | null = null;
    for (;;) {
      stack.assertAlive();
      const { rows } = await db.pool.query<{ status: string; completed_at: Date | null }>('SELECT status, completed_at FROM campaigns WHERE id = $1', [campaignId]);
      if (rows[0]?.status === 'completed') {
        completedAt = rows[0].completed_at;
        break;
      }
      if (rows[0] && ['cancelled', 'failed'].includes(rows[0].status)) throw new Error(`campaign ended ${rows[0].status}`);
      if (Date.now() - t0 > o.timeoutMs) throw new Error(`campaign of ${o.size} did not complete within ${o.timeoutMs / 1000} s`);
      await sleep(100);
    }
    // Settled: every report posted and answered, every stored one applied.
    for (;;) {
      stack.assertAlive();
      const s = await simulatorStats(stack);
      const posted = s.dlrPending === 0 && s.dlrInFlight === 0;
      const { rows } = await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM webhook_events WHERE status = 'received' AND topic IN ('status', 'status-batch') AND provider LIKE 'sms-%'`);
      if (posted && Number(rows[0]?.n ?? 0) === 0) break;
      if (Date.now() - t0 > o.timeoutMs) throw new Error(`reports of the ${o.size} campaign not settled within ${o.timeoutMs / 1000} s (${JSON.stringify(s)}, ${rows[0]?.n} stored unapplied)`);
      await sleep(100);
    }
    await stopSampling();
    await meter.sample();
    const statsPolls = await pages.close();
    const simAfter = await simulatorStats(stack);

    const { rows: fin } = await db.pool.query<{ status: string; n: string; last: Date | null }>(
      'SELECT status, count(*) AS n, max(final_at) AS last FROM campaign_recipients WHERE campaign_id = $1 GROUP BY status',
      [campaignId],
    );
    const statuses = Object.fromEntries(fin.map((r) => [r.status, Number(r.n)]));
    const recipients = fin.reduce((a, r) => a + Number(r.n), 0);
    const open = (statuses.sent ?? 0) + (statuses.pending ?? 0) + (statuses.sending ?? 0);
    if (open > 0) throw new Error(`settled with ${open} recipients still open: ${JSON.stringify(statuses)}`);
    const lastFinal = Math.max(...fin.map((r) => r.last?.getTime() ?? 0));
    const settledMs = Math.max(lastFinal, completedAt?.getTime() ?? 0) - t0;

    // Reports as the api stored them: a batched callback is one row
    // (`batch:<digest>`), the single reports of one group commit one row
    // (`group:<uuid>`); their reports are counted. Rows split or rebatched
    // out of them later (`status`, `waiting:`) hold the same reports again.
    const { rows: ing } = await db.pool.query<{ n: string; first: Date | null; last: Date | null }>(
      `SELECT COALESCE(sum(jsonb_array_length(w.payload->'reports')), 0) AS n,
              min(w.received_at) AS first, max(w.received_at) AS last
         FROM webhook_events w
        WHERE w.topic = 'status-batch' AND (w.event_id LIKE 'batch:%' OR w.event_id LIKE 'group:%') AND w.provider LIKE 'sms-%' AND w.received_at >= $1`,
      [new Date(t0)],
    );
    const stored = Number(ing[0]?.n ?? 0);
    const ingestWindowMs = Math.max(1, (ing[0]?.last?.getTime() ?? 0) - (ing[0]?.first?.getTime() ?? 0));
    // The last summary is written up to a second after the last request.
    await sleep(1_100);
    const summaries = reportSummaries(apiLog, t0, apiLogBefore);
    const requests = summaries.reduce((a, l) => a + l.requests, 0);
    const errors = summaries.reduce((a, l) => a + Object.entries(l.status).filter(([k]) => k !== '2xx').reduce((b, [, v]) => b + v, 0), 0);
    const p50s = summaries.map((l) => l.p50Ms).sort((a, b) => a - b);
    const latency = bucketsBetween(latencyBefore, await callbackLatency(stack));
    const cpu = meter.cpu();
    const logBytes = Object.fromEntries(logs.map((l) => [l.name, fileSize(l.log) - l.before]));
    const totalLog = Object.values(logBytes).reduce((a, b) => a + b, 0);
    const run: SettledRun = {
      size: o.size,
      run: o.run,
      campaignId,
      recipients,
      dlrBatch: o.dlrBatch,
      sentMs: (completedAt?.getTime() ?? NaN) - t0,
      settledMs,
      settledPerSecond: (recipients / settledMs) * 1000,
      firstSendMs,
      statuses,
      ...(statsPolls ? { statsPolls } : {}),
      reports: {
        stored,
        ingestPerSecond: (stored / ingestWindowMs) * 1000,
        requests,
        p50Ms: p50s[Math.floor(p50s.length / 2)] ?? NaN,
        p99Ms: quantileOf(latency, 0.99) * 1000,
        within50Ms: shareAtMost(latency, 0.05),
        worstSecondP99Ms: Math.max(0, ...summaries.map((l) => l.p99Ms)),
        errors: errors + (simAfter.dlrFailed - simBefore.dlrFailed),
      },
      cpu,
      cpuMsPerRecipient: (cpu.total * 1000) / Math.max(1, recipients),
      otherCpuSeconds: meter.otherSeconds(),
      logBytes,
      logBytesPerRecipient: totalLog / Math.max(1, recipients),
      perSecond: { sent: await perSecond(db, campaignId, 'sent_at', t0), settled: await perSecond(db, campaignId, 'final_at', t0) },
    };
    o.log(
      `  ${o.size.toLocaleString('en-US')} (run ${o.run}): settled ${(settledMs / 1000).toFixed(2)} s = ${Math.round(run.settledPerSecond).toLocaleString('en-US')}/s, ` +
        `first message ${firstSendMs} ms, reports ${Math.round(run.reports.ingestPerSecond).toLocaleString('en-US')}/s p99 ${run.reports.p99Ms} ms, ` +
        `CPU ${run.cpuMsPerRecipient.toFixed(3)} ms/recipient, log ${run.logBytesPerRecipient.toFixed(1)} B/recipient` +
        (statsPolls ? `, ${statsPolls.pollers} stats page(s): ${statsPolls.polls} polls, p50 ${statsPolls.p50Ms.toFixed(0)} ms, max ${statsPolls.maxMs.toFixed(0)} ms` : ''),
    );
    return run;
  } finally {
    await stopSampling();
    await pages.close();
  }
}

/**
 * The stack as production runs it: compiled start scripts, NODE_ENV=production
 * with fresh production secrets (so lib/production-config.ts passes), the
 * Mitto adapter pointed at the simulator, LOG_LEVEL=info, delivery reports on.
 * The simulator posts its reports to the simulator-signed callback route.
 */
export function productionStackEnv(o: { databaseUrl: string; dlrBatch: number; dlrDelayMs: number; providerMps: number }): NodeJS.ProcessEnv {
  return {
    ...generatedProductionSecrets(),
    NODE_ENV: 'production',
    DATABASE_URL: o.databaseUrl,
    LOG_LEVEL: 'info',
    SMS_PROVIDER: 'mitto',
    PUBLIC_BASE_URL: 'https://bench.example.com',
    SHOPIFY_INSTALL_BY_EXCHANGE: 'true',
    SIMULATOR_DLR_ENABLED: 'true',
    SIMULATOR_DLR_DELAY_MS: String(o.dlrDelayMs),
    SIMULATOR_DLR_BATCH: String(o.dlrBatch),
    // The simulator's own per-shop limits would only measure the limiter (as in the reports-off stack).
    RATE_LIMIT_CAMPAIGNS_PER_MIN: '10000000',
    RATE_LIMIT_GENERAL_PER_MIN: '10000000',
    // The simulator has no rate limit: the send scenarios measure the pipeline, not a
    // provider's budget (the bench's 2-segment messages at 40 k/s are 80 k segments/s,
    // over the 50 000 segments/s default of SMS_PROVIDER_MPS), unless --provider-mps sets one.
    SMS_PROVIDER_MPS: String(o.providerMps),
  };
}

/**
 * A production-mode audience's shop, installed as Shopify would leave it:
 * provisioned by its first API call, then given an offline token (encrypted
 * with this run's key), so no request of the scenario waits for a token
 * exchange with a Shopify that is not there.
 */
export async function installBenchToken(db: BenchDb, shopId: string, encryptionKey: string): Promise<void> {
  const ciphertext = createTokenCipher(encryptionKey).encrypt(`shpat_bench_${shopId.replace(/-/g, '')}`, tokenAad(shopId));
  await db.pool.query(
    `INSERT INTO shop_access_tokens (shop_id, ciphertext, scopes, obtained_at) VALUES ($1, $2, 'read_customers,write_customers,read_orders', now())
     ON CONFLICT (shop_id) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, obtained_at = now(), invalidated_at = NULL, exchange_claim = NULL, exchange_not_before = NULL`,
    [shopId, ciphertext],
  );
}
