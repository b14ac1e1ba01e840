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
  const [row] = await queueFlowTriggers(tx, { shopId: o.shopId, triggers: [o.trigger], traceId: o.traceId });
  return row ?? null;
}

/**
 * queueFlowTrigger for many facts of one shop in one statement (a contact
 * import's chunk linking earlier checkouts): one event per trigger whose kind
 * has a live flow, in the triggers' order.
 */
export async function queueFlowTriggers(tx: Tx, o: { shopId: string; triggers: QueuedTrigger[]; traceId: string | null }): Promise<OutboxRow[]> {
  if (o.triggers.length === 0) return [];
  const payloads = JSON.stringify(
    o.triggers.map((t) => ({ kind: t.kind, shopId: o.shopId, ...(t.kind === 'checkout_abandoned' ? { token: t.token } : { orderId: t.orderId }) })),
  );
  // `live`: the flows live on the trigger now, each with its live period, read
  // in the transaction that records the fact (see run-flow-trigger.ts).
  return tx.$queryRaw<OutboxRow[]>`
    INSERT INTO outbox_events (event_type, aggregate_id, payload, trace_id)
    SELECT 'flows.trigger.v1', ${o.shopId}, t.p || jsonb_build_object('live', l.live), ${o.traceId}
      FROM jsonb_array_elements(${payloads}::jsonb) WITH ORDINALITY AS t(p, n)
      CROSS JOIN LATERAL (SELECT jsonb_object_agg(id::text, live_generation) AS live FROM flows
                           WHERE shop_id = ${o.shopId}::uuid AND trigger_type = t.p->>'kind' AND status = 'live') l
     WHERE l.live IS NOT NULL
     ORDER BY t.n
    RETURNING id, event_type, aggregate_id, payload, trace_id, available_at`;
}
