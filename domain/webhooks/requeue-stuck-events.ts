import type { Db } from '../../lib/db';
import type { QueueSet } from '../../queue/connection';
import type { Producer } from '../../queue/producer';
import { ensureWebhookJob } from './enqueue-event-job';

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
  /** Rows per pass, oldest first. */
  limit?: number;
  now?: Date;
}

export interface RequeueResult {
  checked: number;
  /** Jobs added or retried; a row whose job is still pending counts in neither. */
  requeued: number;
}

/**
 * Reconciliation's pass over the inbox: `received` rows whose job was never
 * added (Redis down at ingest) or was lost, and `failed` rows that still have
 * attempts left, get a job again. Safe to run from several processes at once:
 * job ids are derived from the row, and processing is idempotent.
 */
export async function requeueStuckWebhookEvents(deps: RequeueDeps, opts: RequeueOptions): Promise<RequeueResult> {
  const now = opts.now ?? new Date();
  const before = new Date(now.getTime() - opts.olderThanMs);
  const rows = await deps.db.$queryRaw<{ id: string; status: string; trace_id: string | null }[]>`
    SELECT id, status, trace_id FROM webhook_events
     WHERE status IN ('received', 'failed') AND received_at < ${before} AND attempts < ${opts.maxAttempts}::int
     ORDER BY received_at
     LIMIT ${opts.limit ?? 500}::int`;
  let requeued = 0;
  for (const row of rows) {
    if (row.status === 'failed') {
      await deps.db.$executeRaw`UPDATE webhook_events SET status = 'received' WHERE id = ${row.id}::uuid AND status = 'failed'`;
    }
    const outcome = await ensureWebhookJob(deps.queues, deps.producer, row.id, row.trace_id);
    if (outcome !== 'exists') requeued++;
  }
  return { checked: rows.length, requeued };
}
