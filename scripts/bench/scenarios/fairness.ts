// Fair sharing between shops (issue 18, item 4; docs/architecture.md "Fair
// sharing"): shop A's big campaign is enqueued through the API; once it is
// well under way (a tenth of it accepted by the provider), shop B enqueues a
// 1 000-recipient campaign. Measured: B's enqueue request → B's completed_at
// (target ≤ 3 s) while A is still sending, and the API's read latency
// (GET /api/campaigns/<A> and GET /api/campaigns, alternating, offered at a
// fixed rate, open loop) from A's enqueue until A completed (target p99 ≤
// 50 ms). Runs on the production-mode stack (reports on), like `settled`.

import type { ApiClient } from '../../lib/session-client';
import { sleep, type Stack } from '../../lib/stack';
import { apiLatency } from '../api-latency';
import type { BenchDb } from '../bench-db';
import { bucketsBetween, countOf, quantileOf, shareAtMost } from '../histogram';
import { fixedRate, summary } from '../load';
import { CAMPAIGN_BODY } from './send';

export interface FairnessRun {
  bigSize: number;
  smallSize: number;
  bigCampaignId: string;
  smallCampaignId: string;
  /** A: enqueue request → completed_at. */
  bigWallMs: number;
  bigRecipientsPerSecond: number;
  /** A's messages the provider had accepted when B was enqueued. */
  bigSentAtSmallEnqueue: number;
  /** B: enqueue request → completed_at. */
  smallCompleteMs: number;
  smallRecipients: number;
  /** A was still `sending` when B completed (else B did not compete with it). */
  bigSendingWhenSmallDone: boolean;
  reads: {
    offeredRate: number;
    requests: number;
    ok: number;
    errors: Record<number, number>;
    /** As the bench's client timed them (the verdict). */
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    /** How late the bench's client sent them (counted in its latencies, which run from when each was due). */
    lagP99Ms: number;
    /** As the api timed them (its latency histogram of the two routes, scraped before and after): from the router's first middleware to the response. */
    server: { requests: number; p99Ms: number; within50Ms: number };
    /** Each one-second round of reads in order, as the client timed them: where in the send the slow ones fall (a cold start, the launch, the end). */
    rounds: { p50Ms: number; p99Ms: number; maxMs: number }[];
  };
}

/** The two routes the scenario reads, GET only. */
const readRoutes = (labels: string): boolean => /route="\/api\/campaigns(\/:id)?"/.test(labels) && labels.includes('method="GET"');

async function accepted(stack: Stack): Promise<number> {
  const res = await fetch(`${stack.urls.simulator}/_stats`, { signal: AbortSignal.timeout(2_000) });
  return Number(((await res.json()) as { messagesAccepted?: number }).messagesAccepted ?? 0);
}

async function campaignRow(db: BenchDb, id: string): Promise<{ status: string; completed_at: Date | null; total_recipients: number } | undefined> {
  const { rows } = await db.pool.query<{ status: string; completed_at: Date | null; total_recipients: number }>(
    'SELECT status, completed_at, total_recipients FROM campaigns WHERE id = $1',
    [id],
  );
  return rows[0];
}

async function createAndEnqueue(api: ApiClient, name: string, key: string): Promise<{ id: string; enqueuedAt: number }> {
  const created = await api.call<{ id: string }>('POST', '/campaigns', { name, body: CAMPAIGN_BODY, audience: { tags: ['bench'] } });
  if (created.status !== 201) throw new Error(`POST /campaigns answered ${created.status}: ${JSON.stringify(created.body)}`);
  const enqueuedAt = Date.now();
  const enq = await api.call('POST', `/campaigns/${created.body.id}/enqueue`, {}, { 'Idempotency-Key': key });
  if (enq.status !== 202) throw new Error(`enqueue answered ${enq.status}: ${JSON.stringify(enq.body)}`);
  return { id: created.body.id, enqueuedAt };
}

async function waitCompleted(stack: Stack, db: BenchDb, id: string, timeoutMs: number): Promise<{ completedAt: Date; total: number }> {
  const t0 = Date.now();
  for (;;) {
    stack.assertAlive();
    const row = await campaignRow(db, id);
    if (row?.status === 'completed' && row.completed_at) return { completedAt: row.completed_at, total: row.total_recipients };
    if (row && ['cancelled', 'failed'].includes(row.status)) throw new Error(`campaign ${id} ended ${row.status}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`campaign ${id} did not complete within ${timeoutMs / 1000} s`);
    await sleep(20);
  }
}

export async function runFairness(
  stack: Stack,
  db: BenchDb,
  o: { big: ApiClient; small: ApiClient; bigSize: number; smallSize: number; readRate: number; label: string; timeoutMs: number; log: (l: string) => void },
): Promise<FairnessRun> {
  const acceptedBefore = await accepted(stack);
  const serverBefore = await apiLatency(stack, readRoutes);
  const big = await createAndEnqueue(o.big, `Bench fairness A ${o.label}`, `bench-fair-a-${o.label}`);

  // Reads in one-second rounds of the open-loop generator until A completed.
  let reading = true;
  const latencies: number[] = [];
  const lags: number[] = [];
  const rounds: { p50Ms: number; p99Ms: number; maxMs: number }[] = [];
  const statuses: Record<number, number> = {};
  const reads = (async () => {
    const paths = [`/api/campaigns/${big.id}`, '/api/campaigns'];
    while (reading) {
      const authorization = `Bearer ${await o.big.token(300)}`;
      const round = await fixedRate(stack.urls.api, {
        rate: o.readRate,
        count: Math.max(1, Math.round(o.readRate)),
        make: (i) => ({ method: 'GET', path: paths[i % 2] as string, headers: { authorization } }),
      });
      latencies.push(...round.latenciesMs);
      const r = summary(round.latenciesMs);
      rounds.push({ p50Ms: r.p50, p99Ms: r.p99, maxMs: r.max });
      lags.push(...(round.lagMs ?? []));
      for (const [k, n] of Object.entries(round.statuses)) statuses[Number(k)] = (statuses[Number(k)] ?? 0) + n;
    }
  })();

  try {
    // B comes once A is well under way: its backlog is deep and still growing (chunked launch).
    const threshold = Math.max(1, Math.floor(o.bigSize / 10));
    for (;;) {
      stack.assertAlive();
      if ((await accepted(stack)) - acceptedBefore >= threshold) break;
      if (Date.now() - big.enqueuedAt > o.timeoutMs) throw new Error(`campaign A sent fewer than ${threshold} within ${o.timeoutMs / 1000} s`);
      await sleep(20);
    }
    const bigSentAtSmallEnqueue = (await accepted(stack)) - acceptedBefore;
    const small = await createAndEnqueue(o.small, `Bench fairness B ${o.label}`, `bench-fair-b-${o.label}`);
    const smallDone = await waitCompleted(stack, db, small.id, o.timeoutMs);
    const bigSendingWhenSmallDone = (await campaignRow(db, big.id))?.status === 'sending';
    const bigDone = await waitCompleted(stack, db, big.id, o.timeoutMs);
    reading = false;
    await reads;

    const s = summary(latencies);
    const ok = statuses[200] ?? 0;
    const server = bucketsBetween(serverBefore, await apiLatency(stack, readRoutes));
    const run: FairnessRun = {
      bigSize: o.bigSize,
      smallSize: o.smallSize,
      bigCampaignId: big.id,
      smallCampaignId: small.id,
      bigWallMs: bigDone.completedAt.getTime() - big.enqueuedAt,
      bigRecipientsPerSecond: (bigDone.total / (bigDone.completedAt.getTime() - big.enqueuedAt)) * 1000,
      bigSentAtSmallEnqueue,
      smallCompleteMs: smallDone.completedAt.getTime() - small.enqueuedAt,
      smallRecipients: smallDone.total,
      bigSendingWhenSmallDone,
      reads: {
        offeredRate: o.readRate,
        requests: latencies.length,
        ok,
        errors: Object.fromEntries(Object.entries(statuses).filter(([k]) => k !== '200')) as Record<number, number>,
        p50Ms: s.p50,
        p99Ms: s.p99,
        maxMs: s.max,
        lagP99Ms: summary(lags).p99,
        server: { requests: countOf(server), p99Ms: quantileOf(server, 0.99) * 1000, within50Ms: shareAtMost(server, 0.05) },
        rounds,
      },
    };
    o.log(
      `  fairness: B (${run.smallRecipients.toLocaleString('en-US')}) completed ${run.smallCompleteMs} ms after its enqueue, ` +
        `A (${o.bigSize.toLocaleString('en-US')}) ${run.bigSendingWhenSmallDone ? 'still sending' : 'NOT sending any more'} then, ${run.bigSentAtSmallEnqueue.toLocaleString('en-US')} sent at B's enqueue; ` +
        `A in ${(run.bigWallMs / 1000).toFixed(2)} s (${Math.round(run.bigRecipientsPerSecond).toLocaleString('en-US')}/s); ` +
        `reads p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms (${ok}/${latencies.length} 200 at ${o.readRate}/s); ` +
        `sent up to ${run.reads.lagP99Ms.toFixed(1)} ms late (p99); as the api timed them: p99 ${run.reads.server.p99Ms.toFixed(1)} ms, ${(run.reads.server.within50Ms * 100).toFixed(1)} % within 50 ms (${run.reads.server.requests} requests); ` +
        `max by second ${rounds.map((r) => r.maxMs.toFixed(0)).join(', ')} ms`,
    );
    return run;
  } finally {
    reading = false;
    await reads.catch(() => undefined);
  }
}
