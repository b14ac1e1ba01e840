import type { Db } from '../../lib/db';
import { DELIVERY_REPORT_PROVIDERS, type WebhookEventRow } from './types';

/** A claimed event, read by the claim itself: processing needs no statement to read it again. */
export type ClaimedEvent = WebhookEventRow;

/**
 * Takes up to `limit` stored events for one drain pass, oldest first: rows
 * still `received`, never tried (a row that failed once has a job of its own,
 * with backoff), and not delivery reports. Claiming stamps `next_attempt_at`
 * as a lease, so concurrent drains split the work (SKIP LOCKED, then the
 * lease) and a drain that died leaves its rows to the next one after the
 * lease, or to reconciliation. Delivery reports (single and batched) have a
 * drain of their own.
 */
export async function claimEventsForDrain(db: Db, o: { limit: number; leaseMs: number }): Promise<ClaimedEvent[]> {
  const rows = await db.$queryRaw<WebhookEventRow[]>`
    UPDATE webhook_events w SET next_attempt_at = now() + ${o.leaseMs}::float8 * interval '1 millisecond'
      FROM (SELECT id FROM webhook_events
             WHERE status = 'received' AND attempts = 0 AND last_error IS NULL
               AND NOT (topic IN ('status', 'status-batch') AND provider = ANY(${DELIVERY_REPORT_PROVIDERS}::text[]))
               AND (next_attempt_at IS NULL OR next_attempt_at < now())
             ORDER BY received_at, id
             LIMIT ${o.limit}::int
               FOR UPDATE SKIP LOCKED) c
     WHERE w.id = c.id
    RETURNING w.id, w.provider, w.event_id, w.topic, w.shop_id, w.payload, w.status, w.attempts, w.trace_id, w.received_at`;
  return rows.sort((a, b) => a.received_at.getTime() - b.received_at.getTime() || a.id.localeCompare(b.id));
}
