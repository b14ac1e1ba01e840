import { randomUUID } from 'node:crypto';
import { empty, sql, type Db, type Sql } from '../../lib/db';
import { runMayGoOnSql } from './run-may-go-on-sql';

/** At most this many runs per claim (one step job each). */
export const MAX_CLAIM = 1_000;

/** A place in the due order (next_due_at, id): where a claim ended, so the next one of the same tick starts after it. */
export interface DueCursor {
  due: Date;
  id: string;
}

export interface ClaimedRuns {
  claimToken: string;
  runIds: string[];
  /** The last run claimed, in due order (null when none). */
  last: DueCursor | null;
  /** now − the oldest claimed next_due_at, in seconds (the due-run lag the metric observes); null when none. */
  lagSeconds: number | null;
}

/**
 * Claims due runs for one step job: active, `next_due_at <= now`, no live
 * lease, of a live flow (a manual test run: any status, so a test of a draft
 * goes on). A guarded UPDATE over `FOR UPDATE SKIP LOCKED` rows, so two
 * schedulers never claim the same run and a killed worker's runs come back
 * once their lease ends.
 *
 * `after` (the previous claim's `last`, within one tick) starts the scan past
 * the runs that claim took: they stay active, due and in the index until
 * their step settles, and every later claim of a burst otherwise stepped over
 * all of them, reading each run's row to see its lease (66 ms a claim, 6.9 s
 * of a 100 000-run burst, measured). A run it passes over is still taken: by
 * the first claim of the next tick, which starts from the beginning.
 */
export async function claimDueRuns(db: Db, o: ClaimOptions): Promise<ClaimedRuns> {
  const claimToken = randomUUID();
  const rows = await db.$queryRaw<{ id: string; due: Date }[]>(claimDueRunsSql(o, claimToken));
  const oldest = rows.reduce<number | null>((m, r) => (m === null || r.due.getTime() < m ? r.due.getTime() : m), null);
  let last: DueCursor | null = null;
  for (const r of rows) {
    if (last === null || r.due.getTime() > last.due.getTime() || (r.due.getTime() === last.due.getTime() && BigInt(r.id) > BigInt(last.id))) last = { due: r.due, id: r.id };
  }
  return { claimToken, runIds: rows.map((r) => r.id), last, lagSeconds: oldest === null ? null : Math.max(0, (o.now.getTime() - oldest) / 1000) };
}

export interface ClaimOptions {
  now: Date;
  limit: number;
  leaseMs: number;
  after?: DueCursor | null;
}

/**
 * The claim's statement. `NOT r.held` is
 * the due index's predicate: a run whose flow is not live is held out of the
 * index once the scheduler has reached it (hold-stopped-runs.ts), so the scan
 * no longer steps over every held run of every shop; runMayGoOnSql still
 * filters the ones not held yet, and a test run of a shop that is not active.
 */
function claimDueRunsSql(o: ClaimOptions, claimToken: string): Sql {
  const limit = Math.max(1, Math.min(MAX_CLAIM, o.limit));
  const leaseUntil = new Date(o.now.getTime() + o.leaseMs);
  const after = o.after ? sql`AND (r.next_due_at, r.id) > (${o.after.due}::timestamptz, ${o.after.id}::bigint)` : empty;
  return sql`
    WITH due AS (
      -- The flow's status as a subquery per run, not a join: a join let the
      -- planner read every due run, hash them against flows and sort them
      -- (90 000 due: ~90 ms a claim, the sort spilling to disk); this way the
      -- due index is read in order and the scan stops at the limit (~2 ms).
      SELECT r.id, r.next_due_at
        FROM flow_runs r
       WHERE r.status = 'active' AND NOT r.held AND r.next_due_at <= ${o.now}::timestamptz
         AND (r.lease_until IS NULL OR r.lease_until < ${o.now}::timestamptz) ${after}
         AND ${runMayGoOnSql}
       ORDER BY r.next_due_at, r.id
       LIMIT ${limit}
         FOR UPDATE SKIP LOCKED)
    UPDATE flow_runs r
       SET claim_token = ${claimToken}::uuid, lease_until = ${leaseUntil}::timestamptz, attempt = r.attempt + 1, updated_at = now()
      FROM due
     WHERE r.id = due.id AND r.status = 'active'
    RETURNING r.id::text, due.next_due_at AS due`;
}
