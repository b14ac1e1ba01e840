// Send throughput: one campaign to the whole audience, created and enqueued
// through the HTTP API (session token, Idempotency-Key) like the admin does,
// followed until `completed`. Meanwhile, every ~200 ms: the provider's
// accepted count (for the chart), CPU of every process, the workers' RSS.

import type { ApiClient } from '../../lib/session-client';
import { sleep, type Stack } from '../../lib/stack';
import { relationBytes, type BenchDb } from '../bench-db';
import { ResourceMeter, every, type CpuBreakdown } from '../meter';

export const CAMPAIGN_BODY =
  'Hi {{firstName|there}}, our winter sale starts today at {{shopName}}: 20% off everything with code WINTER20. Free shipping on orders over $50 this week!';

export const RECIPIENT_TABLES = ['campaign_recipients', 'campaign_batches'];

export interface SendRun {
  size: number;
  campaignId: string;
  recipients: number;
  sent: number;
  /** Enqueue request sent → campaign completed_at. */
  wallMs: number;
  /** Enqueue request sent → first message accepted by the provider (launch: materialise + first batch). */
  firstSendMs: number;
  /** Enqueue answered (ms). */
  enqueueMs: number;
  recipientsPerSecond: number;
  cpu: CpuBreakdown;
  cpuMsPerRecipient: number;
  /** CPU seconds the machine spent on other processes during the run (noise). */
  otherCpuSeconds: number;
  workerPeakRssBytes: number;
  workerMemoryAtEnd: WorkerMemory | null;
  /** Σ size of campaign_recipients + campaign_batches (with indexes) grown by this campaign, ÷ recipients. */
  bytesPerRecipient: number;
  relationGrowth: Record<string, number>;
  /** [ms since enqueue, messages accepted so far]. */
  series: [number, number][];
}

/** The worker's own view of its memory at the end of a run (prom-client default metrics), bytes. */
export interface WorkerMemory {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
}

export async function workerMemory(stack: Stack): Promise<WorkerMemory | null> {
  const url = stack.urls.workerMetrics[0];
  if (!url) return null;
  try {
    const text = await (await fetch(url, { signal: AbortSignal.timeout(2_000) })).text();
    const value = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    return {
      rss: value('process_resident_memory_bytes'),
      heapTotal: value('nodejs_heap_size_total_bytes'),
      heapUsed: value('nodejs_heap_size_used_bytes'),
      external: value('nodejs_external_memory_bytes'),
    };
  } catch {
    return null;
  }
}

async function simulatorAccepted(stack: Stack): Promise<number> {
  const res = await fetch(`${stack.urls.simulator}/_stats`, { signal: AbortSignal.timeout(2_000) });
  return Number(((await res.json()) as { messagesAccepted?: number }).messagesAccepted ?? 0);
}

export async function runSend(
  stack: Stack,
  db: BenchDb,
  api: ApiClient,
  o: { size: number; redisPid: number | null; timeoutMs: number; label: string; log: (l: string) => void },
): Promise<SendRun> {
  const created = await api.call<{ id: string }>('POST', '/campaigns', { name: `Bench ${o.label}`, body: CAMPAIGN_BODY, audience: { tags: ['bench'] } });
  if (created.status !== 201) throw new Error(`POST /campaigns answered ${created.status}: ${JSON.stringify(created.body)}`);
  const campaignId = created.body.id;

  await db.pool.query('CHECKPOINT');
  const before = await relationBytes(db, RECIPIENT_TABLES);
  const acceptedBefore = await simulatorAccepted(stack);
  const meter = new ResourceMeter(stack, db, o.redisPid);
  await meter.sample();
  const series: [number, number][] = [];
  const t0 = Date.now();
  let firstSendMs = NaN;
  const stopSampling = every(200, async () => {
    const [accepted] = await Promise.all([simulatorAccepted(stack), meter.sample()]);
    const t = Date.now() - t0;
    const n = accepted - acceptedBefore;
    if (n > 0 && Number.isNaN(firstSendMs)) firstSendMs = t;
    series.push([t, n]);
  });

  try {
    const enq = await api.call<{ recipients: number }>('POST', `/campaigns/${campaignId}/enqueue`, {}, { 'Idempotency-Key': `bench-${o.label}` });
    const enqueueMs = Date.now() - t0;
    if (enq.status !== 202) throw new Error(`enqueue answered ${enq.status}: ${JSON.stringify(enq.body)}`);
    let completedAt: Date | null = null;
    for (;;) {
      stack.assertAlive();
      const { rows } = await db.pool.query<{ status: string; completed_at: Date | null }>('SELECT status, completed_at FROM campaigns WHERE id = $1', [campaignId]);
      const row = rows[0];
      if (row?.status === 'completed') {
        completedAt = row.completed_at;
        break;
      }
      if (row && ['cancelled', 'failed'].includes(row.status)) throw new Error(`campaign ended ${row.status}`);
      if (Date.now() - t0 > o.timeoutMs) throw new Error(`campaign of ${o.size} did not complete within ${o.timeoutMs / 1000} s`);
      await sleep(50);
    }
    await stopSampling();
    await meter.sample();
    const wallMs = (completedAt?.getTime() ?? Date.now()) - t0;
    series.push([wallMs, (await simulatorAccepted(stack)) - acceptedBefore]);

    const { rows } = await db.pool.query<{ n: string; sent: string }>(
      `SELECT count(*) AS n, count(*) FILTER (WHERE status IN ('sent', 'delivered')) AS sent FROM campaign_recipients WHERE campaign_id = $1`,
      [campaignId],
    );
    const recipients = Number(rows[0]?.n ?? 0);
    const sent = Number(rows[0]?.sent ?? 0);
    const after = await relationBytes(db, RECIPIENT_TABLES);
    const relationGrowth = Object.fromEntries(RECIPIENT_TABLES.map((t) => [t, (after[t] ?? 0) - (before[t] ?? 0)]));
    const grown = Object.values(relationGrowth).reduce((a, b) => a + b, 0);
    const cpu = meter.cpu();
    o.log(
      `  ${o.size.toLocaleString('en-US')} recipients: ${(wallMs / 1000).toFixed(2)} s, ${Math.round((recipients / wallMs) * 1000).toLocaleString('en-US')}/s, first send after ${firstSendMs} ms, CPU ${cpu.total.toFixed(1)} s`,
    );
    return {
      size: o.size,
      campaignId,
      recipients,
      sent,
      wallMs,
      firstSendMs,
      enqueueMs,
      recipientsPerSecond: (recipients / wallMs) * 1000,
      cpu,
      cpuMsPerRecipient: (cpu.total * 1000) / Math.max(1, recipients),
      otherCpuSeconds: meter.otherSeconds(),
      workerPeakRssBytes: meter.peakWorkerRssBytes,
      workerMemoryAtEnd: await workerMemory(stack),
      bytesPerRecipient: grown / Math.max(1, recipients),
      relationGrowth,
      series,
    };
  } finally {
    await stopSampling();
  }
}
