import type { Db } from '../../lib/db';
import type { Producer } from '../../queue/producer';
import type { IdempotencyGuard } from '../idempotency/guard';
import { publishCommitted, writeOutboxEvent } from '../outbox/outbox';
import { flowInvalidState } from './flow-errors';
import { getFlowRow } from './get-flow';

/**
 * DELETE /api/flows/:id: a draft or paused flow is marked `deleted` (gone for
 * every reader at once: getFlowRow and the list skip it) and its history is
 * handed to the flows.delete.v1 job (erase-deleted-flow.ts), which ends its
 * runs still in progress (`exited/flow_deleted`) and deletes its runs,
 * messages, clicks, attributions and versions in short chunks: a cascade of a
 * long history outgrew this transaction's 5 s bound, and so would ending a
 * paused flow's million held runs here. From the mark on none of its runs
 * goes on, test runs included (run-may-go-on-sql.ts). Runs in progress used
 * to make it 409, but a paused flow's runs never finish: the merchant could
 * only delete it by activating it and letting every held run text its
 * contact. A live flow is 409 INVALID_STATE (pause it first). The flow row is
 * locked first: a run being started for it (a trigger's only for a live
 * flow; a test run locks the flow too) commits before the mark, or finds the
 * flow gone.
 */
export async function deleteFlow(
  db: Db,
  producer: Producer,
  c: { shopId: string; flowId: string; guard: IdempotencyGuard; traceId?: string },
): Promise<void> {
  const outbox = await db.$transaction(async (tx) => {
    await c.guard.assertHeld(tx);
    const flow = await getFlowRow(tx, c.shopId, c.flowId, { forUpdate: true });
    if (flow.status === 'live') throw flowInvalidState(flow.status, 'delete');
    await tx.$executeRaw`
      UPDATE flows SET status = 'deleted', deleted_at = now(), updated_at = now()
       WHERE id = ${c.flowId}::uuid AND shop_id = ${c.shopId}::uuid AND status IN ('draft', 'paused')`;
    return writeOutboxEvent(tx, { type: 'flows.delete.v1', aggregateId: c.flowId, payload: { flowId: c.flowId, shopId: c.shopId }, traceId: c.traceId });
  });
  await publishCommitted(db, producer, [outbox]);
}
