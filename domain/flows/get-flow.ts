import type { DbOrTx } from '../../lib/db';
import { notFound } from '../../lib/errors';
import { FLOW_COLUMNS, FLOW_VERSION_COLUMNS, toFlowVersionView, toFlowView, type FlowDetailView, type FlowRow, type FlowVersionRow } from './flow-view';

/** How many versions the detail lists, newest first (a live flow may carry up to MAX_VERSIONS_PER_FLOW). */
const HISTORY_LIMIT = 50;

/**
 * The shop's flow; another shop's id is NOT_FOUND, never a hint that it
 * exists, and so is a deleted flow whose history its job has yet to remove.
 * Locked, a flow deleted while this waited for its lock is re-checked and
 * NOT_FOUND too.
 */
export async function getFlowRow(db: DbOrTx, shopId: string, flowId: string, opts: { forUpdate?: boolean } = {}): Promise<FlowRow> {
  const rows = opts.forUpdate
    ? await db.$queryRaw<FlowRow[]>`SELECT ${FLOW_COLUMNS} FROM flows WHERE id = ${flowId}::uuid AND shop_id = ${shopId}::uuid AND status <> 'deleted' FOR UPDATE`
    : await db.$queryRaw<FlowRow[]>`SELECT ${FLOW_COLUMNS} FROM flows WHERE id = ${flowId}::uuid AND shop_id = ${shopId}::uuid AND status <> 'deleted'`;
  if (!rows[0]) throw notFound('Flow');
  return rows[0];
}

export async function getFlowVersion(db: DbOrTx, flowId: string, versionId: string | null): Promise<FlowVersionRow | null> {
  if (versionId === null) return null;
  const [row] = await db.$queryRaw<FlowVersionRow[]>`
    SELECT ${FLOW_VERSION_COLUMNS} FROM flow_versions WHERE id = ${versionId}::uuid AND flow_id = ${flowId}::uuid`;
  return row ?? null;
}

/** GET /api/flows/:id: the flow, its current version in full, and its version history with each version's runs. */
export async function getFlowDetail(db: DbOrTx, shopId: string, flowId: string): Promise<FlowDetailView> {
  const flow = await getFlowRow(db, shopId, flowId);
  const current = await getFlowVersion(db, flowId, flow.current_version_id);
  const history = await db.$queryRaw<{ id: string; version: number; step_count: number; created_at: Date; active: number; total: number }[]>`
    SELECT v.id, v.version, jsonb_array_length(v.steps)::int AS step_count, v.created_at,
           (SELECT count(*) FROM flow_runs r WHERE r.version_id = v.id AND r.status = 'active')::int AS active,
           (SELECT count(*) FROM flow_runs r WHERE r.version_id = v.id)::int AS total
      FROM flow_versions v
     WHERE v.flow_id = ${flowId}::uuid AND v.shop_id = ${shopId}::uuid
     ORDER BY v.version DESC
     LIMIT ${HISTORY_LIMIT}`;
  return {
    ...toFlowView(flow, current),
    currentVersion: current ? toFlowVersionView(current) : null,
    versions: history.map((h) => ({ id: h.id, version: h.version, stepCount: h.step_count, createdAt: h.created_at.toISOString(), runs: { active: h.active, total: h.total } })),
  };
}
