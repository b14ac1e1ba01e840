import type { DbOrTx } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';

export interface DbGauges {
  campaignsStuck: number;
  reservationsActive: number;
  outboxPending: number;
}

/** Three counts, each on a partial index: stuck campaigns, active reservations, unpublished outbox rows. */
export async function readDbGauges(db: DbOrTx, stuckBefore: Date): Promise<DbGauges> {
  const [row] = await db.$queryRaw<{ stuck: bigint; reservations: bigint; outbox: bigint }[]>`
    SELECT (SELECT count(*) FROM campaigns WHERE status IN ('queued', 'sending') AND last_activity_at < ${stuckBefore}) AS stuck,
           (SELECT count(*) FROM credit_reservations WHERE status = 'active') AS reservations,
           (SELECT count(*) FROM outbox_events WHERE published_at IS NULL) AS outbox`;
  return { campaignsStuck: Number(row?.stuck ?? 0), reservationsActive: Number(row?.reservations ?? 0), outboxPending: Number(row?.outbox ?? 0) };
}

export function setDbGauges(metrics: Pick<Metrics, 'campaignsStuck' | 'creditReservationsActive' | 'outboxPending'>, g: DbGauges): void {
  metrics.campaignsStuck.set(g.campaignsStuck);
  metrics.creditReservationsActive.set(g.reservationsActive);
  metrics.outboxPending.set(g.outboxPending);
}

/**
 * Reads the database-backed gauges at scrape time (cached), so every process
 * that exports them reports the current value, not the one from the last
 * reconciliation pass.
 */
export function createDbGaugeRefresher(
  db: DbOrTx,
  metrics: Pick<Metrics, 'campaignsStuck' | 'creditReservationsActive' | 'outboxPending'>,
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
