import type { Db } from '../../lib/db';
import type { DueCursor } from './claim-due-runs';

/** At most this many due-index entries looked at, and runs held, per call (one a scheduler tick). */
// Each hold is an update that moves the run between partial indexes (~100 µs a run measured on
// the loaded 2-core box): 2 000 keep a tick's extra work near 200 ms.
export const HOLD_SCAN = 2_000;

export interface HoldPass {
  held: number;
  /** Where the next call starts: the last entry looked at, or null when this one reached the end of the due runs. */
  next: DueCursor | null;
}

/**
 * Takes out of the due index (`held`) the due runs whose flow is not live: a
 * paused flow's (its merchant's, or app/uninstalled pausing the shop's), a
 * deleted one's. The claim would otherwise step over each of them, reading
 * its flow, on every claim of every tick, for every shop (another shop's
 * million held runs stalled everyone's flows).
 *
 * Lazy and bounded: a pause marks nothing (a million runs in its transaction
 * was the same problem); each call looks at `scan` entries of the due index
 * after `after`, so successive calls sweep it (runs that may go on, at its
 * head, never keep the sweep from the held ones behind them) and a run is
 * held once, at most a sweep after it came due. Test runs (`manual`) go on
 * whatever their flow's status and are never held. The flows are read under
 * a share lock, so an activation committing meanwhile either waits for this
 * to commit (and then sets `runs_held`, which gives these runs back,
 * release-held-runs.ts) or is seen, and its flow's runs are left alone.
 */
export async function holdStoppedRuns(db: Db, o: { now: Date; after?: DueCursor | null; scan?: number }): Promise<HoldPass> {
  const scan = o.scan ?? HOLD_SCAN;
  const after = o.after ?? { due: new Date(0), id: '0' };
  const [row] = await db.$queryRaw<{ held: number; scanned: number; due: Date | null; id: string | null }[]>`
    WITH head AS (
      SELECT r.id, r.flow_id, r.next_due_at
        FROM flow_runs r
       WHERE r.status = 'active' AND NOT r.held AND r.next_due_at <= ${o.now}::timestamptz
         AND (r.next_due_at, r.id) > (${after.due}::timestamptz, ${after.id}::bigint)
       ORDER BY r.next_due_at, r.id
       LIMIT ${scan}),
    stopped AS (
      SELECT f.id FROM flows f
       WHERE f.id IN (SELECT DISTINCT flow_id FROM head) AND f.status <> 'live'
         FOR SHARE OF f),
    marked AS (
      UPDATE flow_runs r SET held = true
        FROM head JOIN stopped ON stopped.id = head.flow_id
       WHERE r.id = head.id AND r.status = 'active' AND NOT r.held AND r.trigger_type <> 'manual'
      RETURNING r.id)
    SELECT (SELECT count(*)::int FROM marked) AS held, (SELECT count(*)::int FROM head) AS scanned, last.next_due_at AS due, last.id::text AS id
      FROM (SELECT 1) one
      LEFT JOIN LATERAL (SELECT next_due_at, id FROM head ORDER BY next_due_at DESC, id DESC LIMIT 1) last ON true`;
  const next = row && row.scanned >= scan && row.due && row.id ? { due: row.due, id: row.id } : null;
  return { held: row?.held ?? 0, next };
}
