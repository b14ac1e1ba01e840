import type { Db } from '../../lib/db';
import type { IdempotencyGuard } from '../idempotency/guard';
import { flowInvalidState, flowNotReady } from './flow-errors';
import { goLiveProblems } from './flow-input';
import { FLOW_COLUMNS, toFlowView, type FlowRow, type FlowView } from './flow-view';
import { getFlowRow, getFlowVersion } from './get-flow';

/**
 * POST /api/flows/:id/activate: draft or paused → live, once its current
 * version is ready to run (a send step; placeholders its trigger can fill).
 * Activating a live flow changes nothing and answers it. From then on its
 * trigger starts runs; nothing that happened before is replayed: a new live
 * period (live_generation) begins, and trigger events recorded in an earlier
 * one start no run in it (run-flow-trigger.ts). Runs it held while paused
 * are out of the due index (hold-stopped-runs.ts): `runs_held` has the
 * scheduler give them back (release-held-runs.ts).
 */
export async function activateFlow(db: Db, c: { shopId: string; flowId: string; guard: IdempotencyGuard; now: Date }): Promise<FlowView> {
  return db.$transaction(async (tx) => {
    await c.guard.assertHeld(tx);
    const flow = await getFlowRow(tx, c.shopId, c.flowId, { forUpdate: true });
    const version = await getFlowVersion(tx, c.flowId, flow.current_version_id);
    if (flow.status === 'live') return toFlowView(flow, version);
    const problems = goLiveProblems(flow.trigger_type, version?.steps ?? []);
    if (problems.length > 0) throw flowNotReady(problems);
    const [row] = await tx.$queryRaw<FlowRow[]>`
      UPDATE flows SET status = 'live', activated_at = ${c.now}, live_generation = live_generation + 1, runs_held = true, updated_at = ${c.now}
       WHERE id = ${c.flowId}::uuid AND shop_id = ${c.shopId}::uuid AND status IN ('draft', 'paused')
      RETURNING ${FLOW_COLUMNS}`;
    if (!row) throw flowInvalidState(flow.status, 'activate');
    return toFlowView(row, version);
  });
}

/**
 * POST /api/flows/:id/pause: live → paused. Its trigger starts no run while
 * paused; runs in progress hold where they are (docs/flows.md) and go on
 * when it is activated again. Pausing a paused flow answers it unchanged; a
 * draft has nothing to pause (409). Its runs are not touched here: the
 * scheduler holds each one as it comes due (hold-stopped-runs.ts), so a pause
 * costs the same for ten runs or a million.
 */
export async function pauseFlow(db: Db, c: { shopId: string; flowId: string; guard: IdempotencyGuard; now: Date }): Promise<FlowView> {
  return db.$transaction(async (tx) => {
    await c.guard.assertHeld(tx);
    const flow = await getFlowRow(tx, c.shopId, c.flowId, { forUpdate: true });
    const version = await getFlowVersion(tx, c.flowId, flow.current_version_id);
    if (flow.status === 'paused') return toFlowView(flow, version);
    const [row] = await tx.$queryRaw<FlowRow[]>`
      UPDATE flows SET status = 'paused', updated_at = ${c.now}
       WHERE id = ${c.flowId}::uuid AND shop_id = ${c.shopId}::uuid AND status = 'live'
      RETURNING ${FLOW_COLUMNS}`;
    if (!row) throw flowInvalidState(flow.status, 'pause');
    return toFlowView(row, version);
  });
}
