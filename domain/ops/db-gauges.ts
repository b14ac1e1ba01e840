import type { DbOrTx } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';
import { awaitingPruningSql, retentionCutoff } from '../campaigns/recipient-retention';

export interface DbGauges {
  campaignsStuck: number;
  reservationsActive: number;
  /** Unpublished outbox rows still to be published (dead ones apart). */
  outboxPending: number;
  /** Outbox rows set aside as dead, waiting for an operator. */
  outboxDead: number;
  /** Recipients waiting for their quiet hours, as counted by their batches' last attempts. */
  recipientsDeferred: number;
  /** Active runs of live flows due by now (claimed or not): the flow backlog. */
  flowDueRuns: number;
  /** now − the oldest next_due_at among them, in seconds; 0 when none is due. */
  flowDueOldestAgeSeconds: number;
  /** Finished campaigns quiet for longer than the recipient retention whose rows are not pruned yet (0 when the retention is not given). */
  recipientPruningDue: number;
  /** How long past its retention the oldest of them is, in seconds; 0 when none. */
  recipientPruningOldestOverdueSeconds: number;
}

/**
 * Counts, each on an index: stuck campaigns, active reservations,
 * unpublished outbox rows (and dead ones), recipients deferred by quiet hours, and the due
 * flow runs of live flows with the oldest due time. A campaign waiting for
 * its recipients' morning is not stuck: a pending batch's `not_before` (when
 * its job comes back) counts as expected activity. The flow figures are read
 * per live flow on flow_runs_flow_stats_idx (its due runs are one range of
 * (flow, 'active', next_due_at), the oldest its first entry), so a paused
 * flow's held runs are never scanned; manual test runs of flows that are not
 * live are left out. With `retentionDays`, the campaigns awaiting recipient
 * pruning and the oldest one's last activity, on the partial index
 * campaigns_recipient_retention_idx (finished, unpruned campaigns only): a
 * backlog there is what the pruning job, queued by reconciliation, works off.
 */
export async function readDbGauges(db: DbOrTx, stuckBefore: Date, now: Date = new Date(), o: { retentionDays?: number } = {}): Promise<DbGauges> {
  const [row] = await db.$queryRaw<{ stuck: bigint; reservations: bigint; outbox: bigint; outbox_dead: bigint; deferred: bigint; flow_due: bigint; flow_oldest: Date | null }[]>`
    SELECT (SELECT count(*) FROM campaigns c WHERE c.status IN ('queued', 'sending') AND c.last_activity_at < ${stuckBefore}
               AND NOT EXISTS (SELECT 1 FROM campaign_batches b
                                WHERE b.campaign_id = c.id AND b.status = 'pending' AND b.not_before >= ${stuckBefore})) AS stuck,
           (SELECT count(*) FROM credit_reservations WHERE status = 'active') AS reservations,
           -- Each on its partial index (outbox_events_unpublished_idx, outbox_events_dead_idx).
           (SELECT count(*) FROM outbox_events WHERE published_at IS NULL AND dead_at IS NULL) AS outbox,
           (SELECT count(*) FROM outbox_events WHERE dead_at IS NOT NULL) AS outbox_dead,
           -- A cancelled campaign's deferred rows are cancelled: only sending campaigns wait.
           (SELECT COALESCE(sum(b.deferred), 0) FROM campaign_batches b JOIN campaigns c ON c.id = b.campaign_id
             WHERE b.status = 'pending' AND b.not_before IS NOT NULL AND c.status = 'sending') AS deferred,
           flow.due AS flow_due, flow.oldest AS flow_oldest
      FROM (SELECT COALESCE(sum(d.n), 0) AS due, min(d.oldest) AS oldest
              FROM flows f CROSS JOIN LATERAL (
                     SELECT count(*) AS n, min(r.next_due_at) AS oldest FROM flow_runs r
                      WHERE r.flow_id = f.id AND r.status = 'active' AND r.next_due_at <= ${now}) d
             WHERE f.status = 'live') flow`;
  const pruning = o.retentionDays === undefined ? undefined : await readRecipientPruningDue(db, retentionCutoff(now, o.retentionDays));
  const overdueMs = pruning?.oldest ? now.getTime() - pruning.oldest.getTime() - (o.retentionDays ?? 0) * 86_400_000 : 0;
  return {
    campaignsStuck: Number(row?.stuck ?? 0),
    reservationsActive: Number(row?.reservations ?? 0),
    outboxPending: Number(row?.outbox ?? 0),
    outboxDead: Number(row?.outbox_dead ?? 0),
    recipientsDeferred: Number(row?.deferred ?? 0),
    flowDueRuns: Number(row?.flow_due ?? 0),
    flowDueOldestAgeSeconds: row?.flow_oldest ? Math.max(0, (now.getTime() - row.flow_oldest.getTime()) / 1000) : 0,
    recipientPruningDue: pruning?.due ?? 0,
    recipientPruningOldestOverdueSeconds: Math.max(0, overdueMs / 1000),
  };
}

async function readRecipientPruningDue(db: DbOrTx, cutoff: Date): Promise<{ due: number; oldest: Date | null }> {
  const [row] = await db.$queryRaw<{ due: bigint; oldest: Date | null }[]>`
    SELECT count(*) AS due, min(c.last_activity_at) AS oldest FROM campaigns c WHERE ${awaitingPruningSql('c', cutoff)}`;
  return { due: Number(row?.due ?? 0), oldest: row?.oldest ?? null };
}

type GaugeMetrics = Pick<Metrics, 'campaignsStuck' | 'creditReservationsActive' | 'outboxPending'> &
  Partial<Pick<Metrics, 'outboxDead' | 'recipientsDeferred' | 'flowDueRuns' | 'flowDueOldestAge' | 'recipientPruningDue' | 'recipientPruningOldestOverdue'>>;

export function setDbGauges(metrics: GaugeMetrics, g: DbGauges): void {
  metrics.campaignsStuck.set(g.campaignsStuck);
  metrics.creditReservationsActive.set(g.reservationsActive);
  metrics.outboxPending.set(g.outboxPending);
  metrics.outboxDead?.set(g.outboxDead);
  metrics.recipientsDeferred?.set(g.recipientsDeferred);
  metrics.flowDueRuns?.set(g.flowDueRuns);
  metrics.flowDueOldestAge?.set(g.flowDueOldestAgeSeconds);
  metrics.recipientPruningDue?.set(g.recipientPruningDue);
  metrics.recipientPruningOldestOverdue?.set(g.recipientPruningOldestOverdueSeconds);
}

/**
 * Reads the database-backed gauges at scrape time (cached), so every process
 * that exports them reports the current value, not the one from the last
 * reconciliation pass.
 */
export function createDbGaugeRefresher(
  db: DbOrTx,
  metrics: GaugeMetrics,
  opts: { stuckAfterMs: number; retentionDays?: number; now: () => Date; maxAgeMs?: number },
): () => Promise<void> {
  let last = 0;
  let inflight: Promise<void> | undefined;
  return async () => {
    if (Date.now() - last < (opts.maxAgeMs ?? 1_000)) return;
    inflight ??= (async () => {
      try {
        const now = opts.now();
        setDbGauges(metrics, await readDbGauges(db, new Date(now.getTime() - opts.stuckAfterMs), now, { retentionDays: opts.retentionDays }));
        last = Date.now();
      } finally {
        inflight = undefined;
      }
    })();
    await inflight;
  };
}
