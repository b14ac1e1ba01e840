import { sql } from '../../lib/db';
import type { RequeueDeps } from './requeue-stuck-events';
import { ensureWebhookJob } from './enqueue-event-job';

/** What reopening an event sets: one SET for the single and the bulk replay. */
const REOPEN = sql`status = 'received', attempts = 0, last_error = NULL, processed_at = NULL`;

/**
 * Replays one stored event by hand (the on-call CLI / POST /internal/webhooks/:id/replay):
 * reopens the row and gives it a fresh job. Processing is idempotent on
 * business state, so replaying a processed event changes nothing unless its
 * effect is missing, in which case the effect is repaired.
 */
export async function replayWebhookEvent(deps: RequeueDeps, eventRowId: string): Promise<'requeued' | 'not_found'> {
  const rows = await deps.db.$queryRaw<{ id: string; trace_id: string | null }[]>`
    UPDATE webhook_events SET ${REOPEN}
     WHERE id = ${eventRowId}::uuid
    RETURNING id, trace_id`;
  const row = rows[0];
  if (!row) return 'not_found';
  await ensureWebhookJob(deps.queues, deps.producer, row.id, row.trace_id);
  return 'requeued';
}

/** Failed events one bulk replay reopens at most (a call is one short statement and this many job adds). */
export const REPLAY_FAILED_MAX = 1_000;

export interface ReplayFailedFilter {
  provider?: string;
  topic?: string;
  /** Only events received at or after this. */
  since?: Date;
  /** At most this many, oldest first (≤ REPLAY_FAILED_MAX). */
  limit: number;
}

/**
 * The on-call's bulk replay (`npm run ops -- webhook:replay --failed`,
 * POST /internal/webhooks/replay-failed) once the cause of a run of failures
 * is fixed. `failed` events are final: reconciliation never retries them
 * (a poison event would loop), so this is the way back. Each matching event,
 * oldest first and at most `limit`, is reopened as replayWebhookEvent does and
 * given a fresh job. The reopen claims its rows (SKIP LOCKED, guarded on
 * `failed`), so two replays at once never reopen one event twice; `more`
 * says whether failed events matching the filter remain for another call.
 */
export async function replayFailedWebhookEvents(deps: RequeueDeps, f: ReplayFailedFilter): Promise<{ requeued: number; ids: string[]; more: boolean }> {
  const limit = Math.min(Math.max(Math.trunc(f.limit), 1), REPLAY_FAILED_MAX);
  const match = sql`status = 'failed'
    AND (${f.provider ?? null}::text IS NULL OR provider = ${f.provider ?? null}::text)
    AND (${f.topic ?? null}::text IS NULL OR topic = ${f.topic ?? null}::text)
    AND (${f.since ?? null}::timestamptz IS NULL OR received_at >= ${f.since ?? null}::timestamptz)`;
  const rows = await deps.db.$queryRaw<{ id: string; trace_id: string | null; received_at: Date }[]>`
    WITH picked AS (
      SELECT id FROM webhook_events WHERE ${match}
       ORDER BY received_at, id
       LIMIT ${limit}::int
         FOR UPDATE SKIP LOCKED
    )
    UPDATE webhook_events w SET ${REOPEN}
      FROM picked
     WHERE w.id = picked.id AND w.status = 'failed'
    RETURNING w.id, w.trace_id, w.received_at`;
  rows.sort((a, b) => a.received_at.getTime() - b.received_at.getTime());
  for (const row of rows) await ensureWebhookJob(deps.queues, deps.producer, row.id, row.trace_id);
  const [rest] = await deps.db.$queryRaw<{ more: boolean }[]>`SELECT EXISTS (SELECT 1 FROM webhook_events WHERE ${match}) AS more`;
  return { requeued: rows.length, ids: rows.map((r) => r.id), more: rest?.more ?? false };
}
