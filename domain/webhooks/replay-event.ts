import type { RequeueDeps } from './requeue-stuck-events';
import { ensureWebhookJob } from './enqueue-event-job';

/**
 * Replays one stored event by hand (the on-call CLI / POST /internal/webhooks/:id/replay):
 * reopens the row and gives it a fresh job. Processing is idempotent on
 * business state, so replaying a processed event changes nothing unless its
 * effect is missing, in which case the effect is repaired.
 */
export async function replayWebhookEvent(deps: RequeueDeps, eventRowId: string): Promise<'requeued' | 'not_found'> {
  const rows = await deps.db.$queryRaw<{ id: string; trace_id: string | null }[]>`
    UPDATE webhook_events SET status = 'received', attempts = 0, last_error = NULL, processed_at = NULL
     WHERE id = ${eventRowId}::uuid
    RETURNING id, trace_id`;
  const row = rows[0];
  if (!row) return 'not_found';
  await ensureWebhookJob(deps.queues, deps.producer, row.id, row.trace_id);
  return 'requeued';
}
