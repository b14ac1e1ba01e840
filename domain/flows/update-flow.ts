import { isDeepStrictEqual } from 'node:util';
import { type Sql, join, sql, type Db } from '../../lib/db';
import type { IdempotencyGuard } from '../idempotency/guard';
import { flowInvalidState, flowNotReady } from './flow-errors';
import { goLiveProblems, type UpdateFlowInput, type VersionContent } from './flow-input';
import { FLOW_COLUMNS, toFlowView, triggerConfigOf, type FlowRow, type FlowView } from './flow-view';
import { getFlowRow, getFlowVersion } from './get-flow';
import { writeFlowVersion } from './write-flow-version';

/**
 * PATCH /api/flows/:id. The name changes in place. Steps, exit condition and
 * smart sending are a version's: a change writes a new version the flow then
 * points to, so runs in progress go on with the version they started on
 * (content equal to the current version's writes nothing). The trigger is the
 * flow's, changed only while it is not live (pause it first). A live flow's new
 * version must be ready to run (api.md, "Flows").
 */
export async function updateFlow(db: Db, c: { shopId: string; flowId: string; input: UpdateFlowInput; guard: IdempotencyGuard; now: Date }): Promise<FlowView> {
  const { input } = c;
  return db.$transaction(async (tx) => {
    await c.guard.assertHeld(tx);
    const current = await getFlowRow(tx, c.shopId, c.flowId, { forUpdate: true });
    if (input.trigger !== undefined && input.trigger.type !== current.trigger_type && current.status === 'live') {
      throw flowInvalidState(current.status, 'change the trigger of');
    }
    const version = await getFlowVersion(tx, c.flowId, current.current_version_id);
    const triggerType = input.trigger?.type ?? current.trigger_type;

    const sets: Sql[] = [sql`updated_at = ${c.now}`];
    if (input.name !== undefined) sets.push(sql`name = ${input.name}`);
    if (input.trigger !== undefined) {
      sets.push(sql`trigger_type = ${input.trigger.type}`, sql`trigger_config = ${JSON.stringify(triggerConfigOf(input.trigger))}::jsonb`);
    }
    const [updated] = await tx.$queryRaw<FlowRow[]>`
      UPDATE flows SET ${join(sets, ', ')} WHERE id = ${c.flowId}::uuid AND shop_id = ${c.shopId}::uuid RETURNING ${FLOW_COLUMNS}`;
    let row = updated as FlowRow;

    const next: VersionContent = {
      steps: input.steps ?? version?.steps ?? [],
      exitCondition: input.exitCondition ?? version?.exit_condition ?? { orderPlaced: triggerType !== 'order_created' },
      smartSending: input.smartSending ?? version?.smart_sending ?? { mode: 'apply' },
    };
    const unchanged = version !== null && isDeepStrictEqual(next, { steps: version.steps, exitCondition: version.exit_condition, smartSending: version.smart_sending });
    if (current.status === 'live') {
      const problems = goLiveProblems(triggerType, next.steps);
      if (problems.length > 0) throw flowNotReady(problems);
    }
    if (unchanged) return toFlowView(row, version);
    const written = await writeFlowVersion(tx, { flowId: c.flowId, shopId: c.shopId, status: current.status, content: next, now: c.now });
    row = { ...row, current_version_id: written.id };
    return toFlowView(row, written);
  });
}
