import type { DbOrTx } from '../../lib/db';
import type { FlowStep, TriggerType } from './flow-input';
import type { LiveFlow } from './start-flow-runs';

export interface LiveFlowWithConfig extends LiveFlow {
  triggerConfig: Record<string, unknown>;
}

/** The shop's live flows on this trigger, each with its current version's steps (flows_live_trigger_idx). */
export async function loadLiveFlows(db: DbOrTx, shopId: string, trigger: TriggerType): Promise<LiveFlowWithConfig[]> {
  const rows = await db.$queryRaw<{ id: string; version_id: string; steps: FlowStep[]; trigger_config: Record<string, unknown> }[]>`
    SELECT f.id, v.id AS version_id, v.steps, f.trigger_config
      FROM flows f JOIN flow_versions v ON v.id = f.current_version_id AND v.flow_id = f.id
     WHERE f.shop_id = ${shopId}::uuid AND f.trigger_type = ${trigger} AND f.status = 'live'
     ORDER BY f.id`;
  return rows.map((r) => ({ id: r.id, versionId: r.version_id, steps: r.steps, triggerConfig: r.trigger_config }));
}
