import type { DbOrTx } from '../../lib/db';
import { DELIVERY_REPORT_PROVIDERS } from './types';

/** The topic of a stored batched delivery-report callback (one row per callback body). */
export const REPORT_BATCH_TOPIC = 'status-batch';

/**
 * Turns stored report batches back into one `status` row per report (the
 * single form's rows, dedup key `<id>:<status>`: a report already stored on
 * its own is not stored twice) and closes the batches, in one statement. The
 * way out for a batch the bulk pass cannot take (its pass failed as a whole,
 * or its drain job was lost and it reached the per-event path): its reports
 * then go the single form's way, one by one if need be. Returns the batches
 * split.
 */
export async function splitReportBatches(db: DbOrTx, batchIds: string[]): Promise<number> {
  if (batchIds.length === 0) return 0;
  const [row] = await db.$queryRaw<{ n: number }[]>`
    WITH b AS (
      UPDATE webhook_events
         SET status = 'processed', processed_at = now(), attempts = attempts + 1, last_error = NULL, next_attempt_at = NULL
       WHERE id = ANY(${batchIds}::uuid[]) AND topic = ${REPORT_BATCH_TOPIC} AND status = 'received'
      RETURNING id, provider, payload, trace_id
    ), singles AS (
      INSERT INTO webhook_events (provider, event_id, topic, payload, trace_id)
      SELECT b.provider, (r->>'id') || ':' || (r->>'status'), 'status', r, COALESCE(b.payload->'traceIds'->>(e.n - 1)::int, b.trace_id)
        FROM b CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(b.payload->'reports') = 'array' THEN b.payload->'reports' ELSE '[]'::jsonb END)
             WITH ORDINALITY AS e(r, n)
       WHERE jsonb_typeof(r) = 'object' AND r->>'id' IS NOT NULL AND r->>'status' IS NOT NULL
      ON CONFLICT (provider, event_id) DO NOTHING
    )
    SELECT count(*)::int AS n FROM b`;
  return row?.n ?? 0;
}

/** Splits up to `limit` claimable batches (oldest first), for a drain whose bulk pass failed as a whole. */
export async function splitClaimableReportBatches(db: DbOrTx, o: { limit: number }): Promise<number> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    SELECT id FROM webhook_events
     WHERE status = 'received' AND topic = ${REPORT_BATCH_TOPIC} AND provider = ANY(${DELIVERY_REPORT_PROVIDERS}::text[])
     ORDER BY received_at, id
     LIMIT ${o.limit}::int
       FOR UPDATE SKIP LOCKED`;
  return splitReportBatches(db, rows.map((r) => r.id));
}
