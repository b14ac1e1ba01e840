// Webhooks: ingest (verify, store, enqueue, answer) and delivery-report apply.
//  - Stripe: signed events (stripe.webhooks.generateTestHeaderString) at a
//    fixed rate; achieved rate and latency percentiles.
//  - Delivery reports: simulator-format signed status reports for messages
//    the send scenario sent. They are ingested while the webhooks queue is
//    paused (ingest rate and latency, closed loop), then the queue resumes and
//    the time until every report is applied gives the apply rate.

import { Queue } from 'bullmq';
import { queueOptions } from '../../../queue/connection';
import Stripe from 'stripe';
import { signSimulatorPayload, SIMULATOR_SIGNATURE_HEADER } from '../../../domain/messaging/providers/simulator-signature';
import { createProducerRedis, waitForRedis } from '../../../lib/redis';
import { sleep, type Stack } from '../../lib/stack';
import { relationBytes, settleServer, type BenchDb } from '../bench-db';
import { closedLoop, fixedRate, okCount, summary, type LoadRequest } from '../load';
import { ResourceMeter, every, type CpuBreakdown } from '../meter';

/** Runs `fn` with a resource meter sampling every 200 ms; returns its result and CPU ms per `units`. */
async function metered<T>(stack: Stack, db: BenchDb, redisPid: number | null, fn: () => Promise<T>, units: (r: T) => number): Promise<{ result: T; cpu: CpuBreakdown }> {
  const meter = new ResourceMeter(stack, db, redisPid);
  await meter.sample();
  const stop = every(200, () => meter.sample());
  const result = await fn();
  await stop();
  await meter.sample();
  const n = Math.max(1, units(result));
  const cpu = Object.fromEntries(Object.entries(meter.cpu()).map(([k, v]) => [k, (v * 1000) / n])) as unknown as CpuBreakdown;
  return { result, cpu };
}

export interface IngestRun {
  requests: number;
  ok: number;
  targetRate: number | null;
  rate: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU ms per request, by process. */
  cpuMsPerRequest?: CpuBreakdown;
}

export interface DlrRun {
  reports: number;
  ingest: IngestRun;
  applySeconds: number;
  appliedPerSecond: number;
  /** CPU ms per applied report, by process. */
  applyCpuMsPerReport?: CpuBreakdown;
  delivered: number;
  webhookEventBytesPerEvent: number;
}

export async function stripeIngest(
  stack: Stack,
  db: BenchDb,
  o: { rate: number; count: number; shopId: string; runId: string; redisPid: number | null },
): Promise<IngestRun & { bytesPerEvent: number }> {
  const secret = stack.env.STRIPE_WEBHOOK_SECRET ?? '';
  const make = (i: number): LoadRequest => {
    const payload = JSON.stringify({
      id: `evt_bench_${o.runId}_${i}`,
        object: 'event',
      type: 'checkout.session.expired',
      created: Math.floor(Date.now() / 1000),
      livemode: false,
      data: { object: { id: `cs_bench_${o.runId}_${i}`, object: 'checkout.session', metadata: { shopId: o.shopId } } },
    });
    const header = Stripe.webhooks.generateTestHeaderString({ payload, secret });
    return { method: 'POST', path: '/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': header }, body: payload };
  };
  await settleServer(db, ['webhook_events', 'purchases']);
  // Not measured: one second at the offered rate, so the route is compiled
  // and optimised and the api's pool and batches have their working size
  // (as for enqueue): what is measured is a process in service.
  await fixedRate(stack.urls.api, { rate: o.rate, count: Math.round(o.rate), make: (i) => make(o.count + i) });
  await waitFor(async () => (await openEvents(db, 'stripe')) === 0, 30_000);
  const before = await relationBytes(db, ['webhook_events']);
  const { result, cpu } = await metered(stack, db, o.redisPid, () => fixedRate(stack.urls.api, { rate: o.rate, count: o.count, make }), (r) => r.sent);
  const s = summary(result.latenciesMs);
  // Wait for the processing jobs, so the row size includes what processing writes.
  await waitFor(async () => (await openEvents(db, 'stripe')) === 0, 60_000);
  const after = await relationBytes(db, ['webhook_events']);
  return {
    requests: result.sent,
    ok: okCount(result, 200),
    targetRate: o.rate,
    rate: (okCount(result, 200) / result.elapsedMs) * 1000,
    p50Ms: s.p50,
    p99Ms: s.p99,
    cpuMsPerRequest: cpu,
    bytesPerEvent: ((after.webhook_events ?? 0) - (before.webhook_events ?? 0)) / Math.max(1, result.sent),
  };
}

async function openEvents(db: BenchDb, provider: string): Promise<number> {
  const { rows } = await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM webhook_events WHERE provider = $1 AND status IN ('received', 'failed')`, [provider]);
  return Number(rows[0]?.n ?? 0);
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, everyMs = 100): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await cond()) return true;
    await sleep(everyMs);
  }
  return false;
}

export async function deliveryReports(
  stack: Stack,
  db: BenchDb,
  o: { campaignId: string; count: number; concurrency: number; timeoutMs: number; redisPid: number | null },
): Promise<DlrRun> {
  const { rows } = await db.pool.query<{ id: string; provider_message_id: string }>(
    `SELECT id, provider_message_id FROM campaign_recipients WHERE campaign_id = $1 AND status = 'sent' ORDER BY id LIMIT $2`,
    [o.campaignId, o.count],
  );
  const secret = stack.env.SMS_WEBHOOK_SECRET ?? '';
  const redis = createProducerRedis(stack.config.REDIS_URL);
  await waitForRedis(redis);
  const queue = new Queue('webhooks', queueOptions(redis, stack.config.QUEUE_PREFIX, 'webhooks'));
  const before = await relationBytes(db, ['webhook_events']);
  try {
    await queue.pause();
    const timestamp = new Date().toISOString();
    const { result, cpu: ingestCpu } = await metered(stack, db, o.redisPid, () => closedLoop(stack.urls.api, {
      concurrency: o.concurrency,
      count: rows.length,
      make: (i) => {
        const r = rows[i] as { id: string; provider_message_id: string };
        const body = JSON.stringify({ id: r.provider_message_id, reference: `r${r.id}`, status: 'delivered', timestamp });
        return {
          method: 'POST',
          path: '/webhooks/sms/simulator/status',
          headers: { 'content-type': 'application/json', [SIMULATOR_SIGNATURE_HEADER]: signSimulatorPayload(secret, body) },
          body,
        };
      },
    }), (r) => r.sent);
    const s = summary(result.latenciesMs);
    const ingest: IngestRun = {
      requests: result.sent,
      ok: okCount(result, 200),
      targetRate: null,
      rate: (okCount(result, 200) / result.elapsedMs) * 1000,
      p50Ms: s.p50,
      p99Ms: s.p99,
      cpuMsPerRequest: ingestCpu,
    };
    const t0 = performance.now();
    const { result: drained, cpu: applyCpu } = await metered(
      stack,
      db,
      o.redisPid,
      async () => {
        await queue.resume();
        return waitFor(async () => (await openEvents(db, 'sms-simulator')) === 0, o.timeoutMs, 50);
      },
      () => rows.length,
    );
    const applySeconds = (performance.now() - t0) / 1000;
    if (!drained) throw new Error(`delivery reports not applied within ${o.timeoutMs / 1000} s`);
    const { rows: d } = await db.pool.query<{ n: string }>(`SELECT count(*) AS n FROM campaign_recipients WHERE campaign_id = $1 AND status = 'delivered'`, [o.campaignId]);
    const after = await relationBytes(db, ['webhook_events']);
    return {
      reports: rows.length,
      ingest,
      applySeconds,
      appliedPerSecond: rows.length / applySeconds,
      applyCpuMsPerReport: applyCpu,
      delivered: Number(d[0]?.n ?? 0),
      webhookEventBytesPerEvent: ((after.webhook_events ?? 0) - (before.webhook_events ?? 0)) / Math.max(1, rows.length),
    };
  } finally {
    await queue.resume().catch(() => undefined);
    await queue.close();
    redis.disconnect();
  }
}
