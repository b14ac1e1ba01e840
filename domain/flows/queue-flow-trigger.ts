import type { Tx } from '../../lib/db';
import type { OutboxRow } from '../outbox/outbox';

export type QueuedTrigger = { kind: 'checkout_abandoned'; token: string } | { kind: 'order_created'; orderId: string };

/**
 * Called in the webhook's transaction, after the checkout or order is stored:
 * writes a flows.trigger.v1 outbox event for it, only when the shop has a live
 * flow on that trigger (one indexed probe; most shops have none), so the event
 * commits with the fact that caused it and the runs are started by the job,
 * outside the webhook's transaction. Returns the row for publishing after
 * commit, or null.
 */
export async function queueFlowTrigger(tx: Tx, o: { shopId: string; trigger: QueuedTrigger; traceId: string | null }): Promise<OutboxRow | null> {
  const subject = o.trigger.kind === 'checkout_abandoned' ? { token: o.trigger.token } : { orderId: o.trigger.orderId };
  const payload = JSON.stringify({ kind: o.trigger.kind, shopId: o.shopId, ...subject });
  // `live`: the flows live on the trigger now, each with its live period, read
  // in the transaction that records the fact (see run-flow-trigger.ts).
  const [row] = await tx.$queryRaw<OutboxRow[]>`
    INSERT INTO outbox_events (event_type, aggregate_id, payload, trace_id)
    SELECT 'flows.trigger.v1', ${o.shopId}, ${payload}::jsonb || jsonb_build_object('live', jsonb_object_agg(id::text, live_generation)), ${o.traceId}
      FROM flows WHERE shop_id = ${o.shopId}::uuid AND trigger_type = ${o.trigger.kind} AND status = 'live'
    HAVING count(*) > 0
    RETURNING id, event_type, aggregate_id, payload, trace_id, available_at`;
  return row ?? null;
}
