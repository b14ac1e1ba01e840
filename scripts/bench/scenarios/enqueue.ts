// Enqueue latency at a fixed request rate (open loop), for a small and a
// large audience: each request enqueues a different draft campaign of the same
// audience (drafts made beforehand with one INSERT), with its own
// Idempotency-Key. The campaigns queue is paused meanwhile, so no launch runs:
// what is measured is the request alone. Then idempotent replays: the same
// requests again, answered from the stored response (at a rate of their own:
// what is measured is a replay's latency, not a queue in front of it).

import { Queue } from 'bullmq';
import { queueOptions } from '../../../queue/connection';
import { createProducerRedis, waitForRedis } from '../../../lib/redis';
import type { ApiClient } from '../../lib/session-client';
import type { Stack } from '../../lib/stack';
import { settleServer, type BenchDb } from '../bench-db';
import { fixedRate, okCount, summary, type LoadRequest } from '../load';
import { ResourceMeter, every, type CpuBreakdown } from '../meter';
import { CAMPAIGN_BODY } from './send';

// Not measured: two seconds at the measured rate, so the api's database pool
// has grown to what that rate needs (a new connection's first statements
// build its backend's caches and prepare every statement: several ms each),
// every statement is prepared and V8 has optimised the request path. What is
// measured is a process in service, not one just deployed.
const WARM_UP_SECONDS = 2;
// Replays are measured at 50 req/s against a 2 ms target: the generator wakes
// early and yields until each is due (≤ 10 % of a core at this rate).
const REPLAY_SPIN_MS = 2;

export interface LatencyRun {
  audience: number;
  requests: number;
  ok: number;
  statuses: Record<number, number>;
  /** Requests per second offered (the fixed rate) and completed. */
  offeredRate: number;
  rate: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** p99 of the requests due within each second of the run: a stall shows as one bad second, queueing as a rising line. */
  p99BySecond: number[];
  /** The load generator's own lateness (due → sent), p50 and p99: already inside every latency above. */
  generatorLagMs?: { p50: number; p99: number };
  /** CPU seconds per request, by process. */
  cpuMsPerRequest?: CpuBreakdown;
}

export async function enqueueLatency(
  stack: Stack,
  db: BenchDb,
  api: ApiClient,
  o: { shopId: string; audience: number; rate: number; count: number; replays: number; replayRate: number; runId: string; redisPid: number | null },
): Promise<{ enqueue: LatencyRun; replay: LatencyRun | null }> {
  const warmUp = Math.round(o.rate * WARM_UP_SECONDS);
  const { rows } = await db.pool.query<{ id: string }>(
    `INSERT INTO campaigns (shop_id, name, body, audience)
     SELECT $1::uuid, 'Bench enqueue ' || g, $2, '{"tags":["bench"]}'::jsonb FROM generate_series(1, $3::int) g
     RETURNING id`,
    [o.shopId, CAMPAIGN_BODY, o.count + warmUp],
  );
  const ids = rows.map((r) => r.id);
  // Session tokens live at most 5 minutes: one is reused (no signing per
  // request in the load generator) and replaced every minute.
  let token = await api.token(300);
  const renew = setInterval(() => void api.token(300).then((t) => (token = t)), 60_000).unref();
  const make = (i: number): LoadRequest => ({
    method: 'POST',
    path: `/api/campaigns/${ids[i]}/enqueue`,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': `bench-enq-${o.runId}-${o.audience}-${i}` },
    body: '{}',
  });

  const redis = createProducerRedis(stack.config.REDIS_URL);
  await waitForRedis(redis);
  const campaigns = new Queue('campaigns', queueOptions(redis, stack.config.QUEUE_PREFIX, 'campaigns'));
  try {
    await campaigns.pause();
    // Not measured: the first requests of a process compile and cache what they use.
    await settleServer(db, ['campaigns', 'credit_wallets', 'credit_reservations', 'idempotency_keys', 'outbox_events']);
    await fixedRate(stack.urls.api, { rate: o.rate, count: warmUp, make: (i) => make(o.count + i) });
    const enqueue = await metered(stack, db, o.redisPid, o.audience, o.rate, () => fixedRate(stack.urls.api, { rate: o.rate, count: o.count, make }));
    let replay: LatencyRun | null = null;
    if (o.replays > 0) {
      replay = await metered(stack, db, o.redisPid, o.audience, o.replayRate, () => fixedRate(stack.urls.api, { rate: o.replayRate, count: Math.min(o.replays, o.count), make, spinMs: REPLAY_SPIN_MS }));
    }
    return { enqueue, replay };
  } finally {
    clearInterval(renew);
    // The launches of these campaigns must never run: drop their jobs, then
    // cancel the campaigns and give their credits back.
    await campaigns.obliterate({ force: true }).catch(() => undefined);
    await campaigns.resume().catch(() => undefined);
    await campaigns.close();
    redis.disconnect();
    await db.pool.query(`UPDATE campaigns SET status = 'cancelled' WHERE id = ANY($1::uuid[]) AND status IN ('queued', 'scheduled', 'draft')`, [ids]);
  }
}

async function metered(stack: Stack, db: BenchDb, redisPid: number | null, audience: number, offeredRate: number, run: () => ReturnType<typeof fixedRate>): Promise<LatencyRun> {
  const meter = new ResourceMeter(stack, db, redisPid);
  await meter.sample();
  const stop = every(200, () => meter.sample());
  const r = await run();
  await stop();
  await meter.sample();
  const cpu = meter.cpu();
  const per = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, (v * 1000) / r.sent])) as unknown as CpuBreakdown;
  return { ...toRun(audience, r, offeredRate), cpuMsPerRequest: per };
}

function toRun(audience: number, r: Awaited<ReturnType<typeof fixedRate>>, offeredRate: number): LatencyRun {
  const s = summary(r.latenciesMs);
  return {
    audience,
    requests: r.sent,
    ok: okCount(r, 202),
    statuses: r.statuses,
    offeredRate,
    rate: r.rate,
    p50Ms: s.p50,
    p90Ms: s.p90,
    p99Ms: s.p99,
    maxMs: s.max,
    p99BySecond: bySecond(r.latenciesMs, offeredRate).map((l) => summary(l).p99),
    generatorLagMs: r.lagMs ? { p50: summary(r.lagMs).p50, p99: summary(r.lagMs).p99 } : undefined,
  };
}

/** Latencies are in due order, request i due at i / rate: chunks of `rate` are the seconds of the run. */
function bySecond(latencies: number[], rate: number): number[][] {
  const per = Math.max(1, Math.round(rate));
  const out: number[][] = [];
  for (let i = 0; i < latencies.length; i += per) out.push(latencies.slice(i, i + per));
  return out;
}
