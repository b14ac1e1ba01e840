import { sql, type DbOrTx, type Sql, type Tx } from '../../lib/db';
import type { FlowStep, TriggerType } from './flow-input';
import type { LiveFlow } from './start-flow-runs';

export interface LiveFlowWithConfig extends LiveFlow {
  triggerConfig: Record<string, unknown>;
  /** Which live period (one per activation) the flow is in. */
  liveGeneration: number;
}

type LiveFlowRow = { id: string; version_id: string; steps: FlowStep[]; trigger_config: Record<string, unknown>; live_generation: number };

async function selectLiveFlows(db: DbOrTx, shopId: string, trigger: TriggerType, narrow: Sql): Promise<LiveFlowWithConfig[]> {
  const rows = await db.$queryRaw<LiveFlowRow[]>`
    SELECT f.id, v.id AS version_id, v.steps, f.trigger_config, f.live_generation
      FROM flows f JOIN flow_versions v ON v.id = f.current_version_id AND v.flow_id = f.id
     WHERE f.shop_id = ${shopId}::uuid AND f.trigger_type = ${trigger} AND f.status = 'live' ${narrow}`;
  return rows.map((r) => ({ id: r.id, versionId: r.version_id, steps: r.steps, triggerConfig: r.trigger_config, liveGeneration: r.live_generation }));
}

/** The shop's live flows on this trigger, each with its current version's steps (flows_live_trigger_idx). */
export async function loadLiveFlows(db: DbOrTx, shopId: string, trigger: TriggerType): Promise<LiveFlowWithConfig[]> {
  return selectLiveFlows(db, shopId, trigger, sql`ORDER BY f.id`);
}

/**
 * One flow as loadLiveFlows reads it, if still live on the trigger, with a
 * share lock held to the end of the transaction: an edit or pause (which take
 * the row's update lock) waits, and one committed before is what is read.
 */
export async function lockLiveFlow(tx: Tx, shopId: string, flowId: string, trigger: TriggerType): Promise<LiveFlowWithConfig | null> {
  const [flow] = await selectLiveFlows(tx, shopId, trigger, sql`AND f.id = ${flowId}::uuid FOR SHARE OF f`);
  return flow ?? null;
}
