import { empty, sql, type Db } from '../../lib/db';
import type { QueueSet } from '../../queue/connection';
import type { Producer } from '../../queue/producer';
import { enqueueDeliveryReportsJob } from './enqueue-delivery-reports-job';
import { FROM_OLDEST, scanRotating, type PassCursors } from '../reconciliation/pass-cursor';
import { ensureWebhookJob } from './enqueue-event-job';
import { REPORT_BATCH_TOPIC } from './split-report-batches';
import { DELIVERY_REPORT_PROVIDERS } from './types';

/** A stored delivery report the bulk drain takes (applyDeliveryReports): received, never handed off. */
const DRAINABLE_REPORT = sql`status = 'received' AND topic IN ('status', ${REPORT_BATCH_TOPIC}) AND provider = ANY(${DELIVERY_REPORT_PROVIDERS}::text[]) AND last_error IS NULL`;

export interface RequeueDeps {
  db: Db;
  queues: QueueSet;
  producer: Producer;
}

export interface RequeueOptions {
  /** Only rows received at least this long ago (their own job had its chance). */
  olderThanMs: number;
  /** Rows that have been tried this often are left for a human. */
  maxAttempts: number;
  /** Rows per pass, oldest first from where the previous pass stopped (`cursors`). */
  limit?: number;
  now?: Date;
  /** Where the scan resumes; without, every pass starts at the oldest row. */
  cursors?: PassCursors;
}

export interface RequeueResult {
  checked: number;
  /** Jobs added or retried (a delivery-report drain counts once); a row whose job is still pending counts in neither. */
  requeued: number;
}

/**
 * Reconciliation's pass over the inbox: `received` rows whose job was never
 * added (Redis down at ingest) or was lost get a job again. `failed` rows are
 * final: their job used all its attempts (the row then has attempts =
 * WEBHOOK_JOB_ATTEMPTS), and requeueing them every pass would retry a poison
 * event forever; an operator replays them once the cause is fixed
 * (replayFailedWebhookEvents, `npm run ops -- webhook:replay --failed`).
 * Safe to run from several processes at once: job ids are derived from the
 * row, and processing is idempotent.
 *
 * Delivery reports the bulk drain takes (received, never handed off) get one
 * drain job for all of them instead of a job each: after a Redis outage or a
 * failover they can number in the hundreds of thousands, which jobs of their
 * own would repair at `limit` rows per pass.
 */
export async function requeueStuckWebhookEvents(deps: RequeueDeps, opts: RequeueOptions): Promise<RequeueResult> {
  const now = opts.now ?? new Date();
  const before = new Date(now.getTime() - opts.olderThanMs);
  const [reports] = await deps.db.$queryRaw<{ stuck: boolean }[]>`
    SELECT EXISTS (SELECT 1 FROM webhook_events WHERE ${DRAINABLE_REPORT} AND received_at < ${before}) AS stuck`;
  let requeued = 0;
  if (reports?.stuck) {
    await enqueueDeliveryReportsJob(deps.producer, now.getTime());
    requeued++;
  }
  // Rows whose job is alive (a backlog, retries in backoff) stay candidates: the scan rotates past them.
  const rows = await scanRotating(
    opts.cursors ?? FROM_OLDEST,
    'webhook-events',
    opts.limit ?? 500,
    (after, n) => deps.db.$queryRaw<{ id: string; received_at: Date; trace_id: string | null }[]>`
      SELECT id, received_at, trace_id FROM webhook_events
       WHERE status = 'received' AND received_at < ${before} AND attempts < ${opts.maxAttempts}::int
         AND NOT (${DRAINABLE_REPORT})
         ${after ? sql`AND (received_at, id) > (${after[0]}::timestamptz, ${after[1]}::uuid)` : empty}
       ORDER BY received_at, id
       LIMIT ${n}::int`,
    (row) => [row.received_at.toISOString(), row.id],
  );
  for (const row of rows) {
    const outcome = await ensureWebhookJob(deps.queues, deps.producer, row.id, row.trace_id);
    if (outcome !== 'exists') requeued++;
  }
  return { checked: rows.length, requeued };
}
