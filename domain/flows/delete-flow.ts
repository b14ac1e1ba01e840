import type { Db } from '../../lib/db';
import type { Producer } from '../../queue/producer';
import type { IdempotencyGuard } from '../idempotency/guard';
import { publishCommitted, writeOutboxEvent } from '../outbox/outbox';
import { flowInvalidState } from './flow-errors';
import { getFlowRow } from './get-flow';

/**
 * DELETE /api/flows/:id: a draft or paused flow with no run in progress is
 * marked `deleted` (gone for every reader at once: getFlowRow and the list
 * skip it) and its history is handed to the flows.delete.v1 job
 * (erase-deleted-flow.ts), which deletes its finished runs, messages, clicks,
 * attributions and versions in short chunks: a cascade of a long history
 * outgrew this transaction's 5 s bound. A live flow, or one with active runs
 * (a paused flow's held runs, a draft's test runs), is 409 INVALID_STATE.
 * The flow row is locked first: a run being started for it (a test run locks
 * the flow too) commits before the count below, which then sees it.
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
    const [active] = await tx.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM flow_runs WHERE flow_id = ${c.flowId}::uuid AND status = 'active'`;
    if ((active?.n ?? 0) > 0) throw flowInvalidState(flow.status, 'delete', { activeRuns: active?.n });
    await tx.$executeRaw`
      UPDATE flows SET status = 'deleted', deleted_at = now(), updated_at = now()
       WHERE id = ${c.flowId}::uuid AND shop_id = ${c.shopId}::uuid AND status IN ('draft', 'paused')`;
    return writeOutboxEvent(tx, { type: 'flows.delete.v1', aggregateId: c.flowId, payload: { flowId: c.flowId, shopId: c.shopId }, traceId: c.traceId });
  });
  await publishCommitted(db, producer, [outbox]);
}
