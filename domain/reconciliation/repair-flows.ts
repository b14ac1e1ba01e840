import { empty, sql, type Db } from '../../lib/db';
import type { QueueSet } from '../../queue/connection';
import { ensureJobs } from '../../queue/ensure-job';
import { OPEN_FLOW_MESSAGE } from '../flows/open-flow-message';
import { flowTriggerParts, type OutboxRow } from '../outbox/outbox';
import { FROM_OLDEST, scanRotating, type PassCursors } from './pass-cursor';

/** How far back flow trigger events are republished (a Redis lost longer ago than this is a restore from backup, not a repair). */
export const FLOW_TRIGGER_REPUBLISH_WINDOW_MS = 24 * 3_600_000;
/** A published event's job normally runs within seconds; younger ones are left to it. */
export const FLOW_TRIGGER_GRACE_MS = 60_000;
/** A run's claim lasts 60 s; one still held an hour later belongs to a worker long gone. */
export const FLOW_CLAIM_ABANDONED_MS = 3_600_000;

/**
 * flows.trigger.v1 events published within the window but never consumed
 * (no job recorded that it ran: the job was lost with Redis, or failed past
 * its attempts): each part not yet consumed gets its job again under its
 * deterministic id, unless that job is still live (queued behind a backlog).
 * Re-running a part is harmless: the runs' unique keys make its inserts
 * no-ops. An event with nothing left to publish is marked consumed. Events
 * whose jobs are alive (queued behind a backlog) stay candidates, so the scan
 * resumes where the previous pass stopped (`cursors`).
 */
export async function republishFlowTriggers(
  deps: { db: Db; queues: QueueSet },
  opts: { now: Date; limit: number; windowMs?: number; graceMs?: number; cursors?: PassCursors },
): Promise<{ republished: number; consumed: number }> {
  const since = new Date(opts.now.getTime() - (opts.windowMs ?? FLOW_TRIGGER_REPUBLISH_WINDOW_MS));
  const before = new Date(opts.now.getTime() - (opts.graceMs ?? FLOW_TRIGGER_GRACE_MS));
  // The partial index holds only published, unconsumed flow trigger events.
  const rows = await scanRotating(
    opts.cursors ?? FROM_OLDEST,
    'flow-triggers',
    opts.limit,
    (after, n) => deps.db.$queryRaw<(Pick<OutboxRow, 'id' | 'payload' | 'trace_id'> & { published_at: Date; consumed_parts: number[] })[]>`
    SELECT id, payload, trace_id, published_at, consumed_parts FROM outbox_events
     WHERE event_type = 'flows.trigger.v1' AND consumed_at IS NULL AND published_at IS NOT NULL
       AND published_at >= ${since} AND published_at < ${before}
       ${after ? sql`AND (published_at, id) > (${after[0]}::timestamptz, ${after[1]}::bigint)` : empty}
     ORDER BY published_at, id
     LIMIT ${n}`,
    (row) => [row.published_at.toISOString(), String(row.id)],
  );
  let republished = 0;
  let consumed = 0;
  for (const row of rows) {
    const done = new Set(row.consumed_parts);
    const left = flowTriggerParts(row).filter((p) => !done.has(p.part));
    if (left.length === 0) {
      consumed += await deps.db.$executeRaw`
        UPDATE outbox_events SET consumed_at = ${opts.now} WHERE id = ${row.id} AND consumed_at IS NULL`;
      continue;
    }
    republished += await ensureJobs(deps.queues, 'flows.trigger.v1', left);
  }
  return { republished, consumed };
}

/**
 * Claims on active runs whose lease ended long ago: a live flow's scheduler
 * would claim such a run again on its next tick anyway, but a paused flow's
 * runs keep a dead worker's claim until the flow is live again, and the ops
 * commands would show them as executing. Clearing one is what an expired
 * lease already allows (any new claim replaces it; a late job of the old
 * claim finds it gone and moves nothing). Claimed runs are due, so the due
 * index finds them; the pass examines at most `scan` of the oldest due runs
 * (a paused flow may hold a million, none claimed), so its cost is bounded and
 * a claim behind them waits for a later pass or the flow's resumption.
 */
export async function clearAbandonedFlowClaims(db: Db, opts: { now: Date; limit: number; scan?: number; olderThanMs?: number }): Promise<number> {
  const expiredBefore = new Date(opts.now.getTime() - (opts.olderThanMs ?? FLOW_CLAIM_ABANDONED_MS));
  return db.$executeRaw`
    WITH oldest AS (
      SELECT id, lease_until FROM flow_runs
       -- NOT held: the due index holds only such runs (a held run's stale claim waits for its release).
       WHERE status = 'active' AND NOT held AND next_due_at <= ${expiredBefore}
       ORDER BY next_due_at
       LIMIT ${opts.scan ?? 1_000}
    ), stale AS (
      SELECT r.id FROM flow_runs r JOIN oldest o ON o.id = r.id
       WHERE o.lease_until < ${expiredBefore}
       LIMIT ${opts.limit}
         FOR UPDATE OF r SKIP LOCKED)
    UPDATE flow_runs r SET claim_token = NULL, lease_until = NULL, updated_at = ${opts.now}
      FROM stale
     WHERE r.id = stale.id AND r.status = 'active' AND r.lease_until < ${expiredBefore}`;
}

/** A message row is written and settled within one step job; one still `sending` after this is left over. */
export const FLOW_MESSAGE_ORPHAN_MS = 5 * 60_000;

/**
 * Flow messages left `sending` whose run has ended or moved to another step
 * since (the run exited by a STOP or an order while the attempt that wrote the
 * row had died, so its settle never came, and no later claim of the run will
 * revisit that step): recorded final, never sent again and not charged —
 * `unknown` when an attempt may have called the provider with it (a delivery
 * report for `f<id>` still settles it, charged then), `failed` with
 * `run_ended` when none did (its claim was released: certainly not sent).
 */
export async function settleOrphanedFlowMessages(db: Db, opts: { now: Date; limit: number; olderThanMs?: number }): Promise<number> {
  const before = new Date(opts.now.getTime() - (opts.olderThanMs ?? FLOW_MESSAGE_ORPHAN_MS));
  return db.$executeRaw`
    WITH orphan AS (
      SELECT m.id FROM flow_messages m JOIN flow_runs r ON r.id = m.run_id
       WHERE ${OPEN_FLOW_MESSAGE} AND m.created_at < ${before}
         AND (r.status <> 'active' OR r.current_step <> m.step)
       ORDER BY m.created_at
       LIMIT ${opts.limit}
         FOR UPDATE OF m SKIP LOCKED)
    UPDATE flow_messages m
       SET status = CASE WHEN m.claim_token IS NULL THEN 'failed' ELSE 'unknown' END,
           error_code = 'run_ended', body = NULL, claim_token = NULL, final_at = ${opts.now}
      FROM orphan
     WHERE m.id = orphan.id AND m.status = 'sending'`;
}
