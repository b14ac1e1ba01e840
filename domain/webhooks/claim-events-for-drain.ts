import type { Db } from '../../lib/db';
import { DELIVERY_REPORT_PROVIDERS } from './types';

export interface ClaimedEvent {
  id: string;
  traceId: string | null;
}

/**
 * Takes up to `limit` stored events for one drain pass, oldest first: rows
 * still `received`, never tried (a row that failed once has a job of its own,
 * with backoff), and not delivery reports. Claiming stamps `next_attempt_at`
 * as a lease, so concurrent drains split the work (SKIP LOCKED, then the
 * lease) and a drain that died leaves its rows to the next one after the
 * lease, or to reconciliation.
 */
export async function claimEventsForDrain(db: Db, o: { limit: number; leaseMs: number }): Promise<ClaimedEvent[]> {
  const rows = await db.$queryRaw<{ id: string; trace_id: string | null; received_at: Date }[]>`
    UPDATE webhook_events w SET next_attempt_at = now() + ${o.leaseMs}::float8 * interval '1 millisecond'
      FROM (SELECT id FROM webhook_events
             WHERE status = 'received' AND attempts = 0 AND last_error IS NULL
               AND NOT (topic = 'status' AND provider = ANY(${DELIVERY_REPORT_PROVIDERS}::text[]))
               AND (next_attempt_at IS NULL OR next_attempt_at < now())
             ORDER BY received_at, id
             LIMIT ${o.limit}::int
               FOR UPDATE SKIP LOCKED) c
     WHERE w.id = c.id
    RETURNING w.id, w.trace_id, w.received_at`;
  return rows
    .sort((a, b) => a.received_at.getTime() - b.received_at.getTime() || a.id.localeCompare(b.id))
    .map((r) => ({ id: r.id, traceId: r.trace_id }));
}
