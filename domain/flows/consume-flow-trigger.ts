import type { DbOrTx } from '../../lib/db';

/**
 * Records that one part of a flows.trigger.v1 outbox event has run, after its
 * runs were started; the event is consumed once every part has. The row's
 * lock serialises parts finishing together (the second re-reads the first's
 * parts), and a replayed part is not counted twice. Reconciliation
 * republishes what is published but not consumed (repair-flows.ts). Returns
 * whether this call recorded the part.
 */
export async function consumeFlowTrigger(db: DbOrTx, o: { outboxId: string; part: number; parts: number; now: Date }): Promise<boolean> {
  const n = await db.$executeRaw`
    UPDATE outbox_events
       SET consumed_parts = consumed_parts || to_jsonb(${o.part}::int),
           consumed_at = CASE WHEN jsonb_array_length(consumed_parts) + 1 >= ${o.parts}::int THEN ${o.now}::timestamptz END
     WHERE id = ${o.outboxId}::bigint AND event_type = 'flows.trigger.v1' AND consumed_at IS NULL
       AND NOT consumed_parts @> to_jsonb(${o.part}::int)`;
  return n > 0;
}
