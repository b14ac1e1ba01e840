import type { Db } from '../../lib/db';
import type { IdempotencyGuard } from '../idempotency/guard';
import { flowInvalidState } from './flow-errors';
import { getFlowRow } from './get-flow';

/**
 * DELETE /api/flows/:id: a draft or paused flow with no run in progress goes,
 * with its versions and finished runs. A live flow, or one with active runs
 * (a paused flow's held runs, a draft's test runs), is 409 INVALID_STATE.
 * The flow row is locked first: a run being started for it (its insert holds
 * a key-share lock on the flow) commits before the count below, which then
 * sees it.
 */
export async function deleteFlow(db: Db, c: { shopId: string; flowId: string; guard: IdempotencyGuard }): Promise<void> {
  await db.$transaction(async (tx) => {
    await c.guard.assertHeld(tx);
    const flow = await getFlowRow(tx, c.shopId, c.flowId, { forUpdate: true });
    if (flow.status === 'live') throw flowInvalidState(flow.status, 'delete');
    const [active] = await tx.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM flow_runs WHERE flow_id = ${c.flowId}::uuid AND status = 'active'`;
    if ((active?.n ?? 0) > 0) throw flowInvalidState(flow.status, 'delete', { activeRuns: active?.n });
    await tx.$executeRaw`DELETE FROM flows WHERE id = ${c.flowId}::uuid AND shop_id = ${c.shopId}::uuid AND status IN ('draft', 'paused')`;
  });
}
