import type { DbOrTx } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';

export interface DbGauges {
  campaignsStuck: number;
  reservationsActive: number;
  outboxPending: number;
  /** Recipients waiting for their quiet hours, as counted by their batches' last attempts. */
  recipientsDeferred: number;
}

/**
 * Four counts, each on a partial index: stuck campaigns, active reservations,
 * unpublished outbox rows, recipients deferred by quiet hours. A campaign
 * waiting for its recipients' morning is not stuck: a pending batch's
 * `not_before` (when its job comes back) counts as expected activity.
 */
export async function readDbGauges(db: DbOrTx, stuckBefore: Date): Promise<DbGauges> {
  const [row] = await db.$queryRaw<{ stuck: bigint; reservations: bigint; outbox: bigint; deferred: bigint }[]>`
    SELECT (SELECT count(*) FROM campaigns c WHERE c.status IN ('queued', 'sending') AND c.last_activity_at < ${stuckBefore}
               AND NOT EXISTS (SELECT 1 FROM campaign_batches b
                                WHERE b.campaign_id = c.id AND b.status = 'pending' AND b.not_before >= ${stuckBefore})) AS stuck,
           (SELECT count(*) FROM credit_reservations WHERE status = 'active') AS reservations,
           (SELECT count(*) FROM outbox_events WHERE published_at IS NULL) AS outbox,
           -- A cancelled campaign's deferred rows are cancelled: only sending campaigns wait.
           (SELECT COALESCE(sum(b.deferred), 0) FROM campaign_batches b JOIN campaigns c ON c.id = b.campaign_id
             WHERE b.status = 'pending' AND b.not_before IS NOT NULL AND c.status = 'sending') AS deferred`;
  return {
    campaignsStuck: Number(row?.stuck ?? 0),
    reservationsActive: Number(row?.reservations ?? 0),
    outboxPending: Number(row?.outbox ?? 0),
    recipientsDeferred: Number(row?.deferred ?? 0),
  };
}

type GaugeMetrics = Pick<Metrics, 'campaignsStuck' | 'creditReservationsActive' | 'outboxPending'> & Partial<Pick<Metrics, 'recipientsDeferred'>>;

export function setDbGauges(metrics: GaugeMetrics, g: DbGauges): void {
  metrics.campaignsStuck.set(g.campaignsStuck);
  metrics.creditReservationsActive.set(g.reservationsActive);
  metrics.outboxPending.set(g.outboxPending);
  metrics.recipientsDeferred?.set(g.recipientsDeferred);
}

/**
 * Reads the database-backed gauges at scrape time (cached), so every process
 * that exports them reports the current value, not the one from the last
 * reconciliation pass.
 */
export function createDbGaugeRefresher(
  db: DbOrTx,
  metrics: GaugeMetrics,
  opts: { stuckAfterMs: number; now: () => Date; maxAgeMs?: number },
): () => Promise<void> {
  let last = 0;
  let inflight: Promise<void> | undefined;
  return async () => {
    if (Date.now() - last < (opts.maxAgeMs ?? 1_000)) return;
    inflight ??= (async () => {
      try {
        setDbGauges(metrics, await readDbGauges(db, new Date(opts.now().getTime() - opts.stuckAfterMs)));
        last = Date.now();
      } finally {
        inflight = undefined;
      }
    })();
    await inflight;
  };
}
