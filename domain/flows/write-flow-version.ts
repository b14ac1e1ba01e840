import type { Tx } from '../../lib/db';
import { AppError } from '../../lib/errors';
import { MAX_VERSIONS_PER_FLOW, type VersionContent } from './flow-input';
import { FLOW_VERSION_COLUMNS, type FlowVersionRow } from './flow-view';

/**
 * Writes the flow's next version (number = highest + 1) and points the flow at
 * it. The caller holds the flow row's lock, so two edits number their versions
 * one after the other; the unique (flow_id, version) would refuse a clash
 * anyway. A draft keeps no history: its superseded versions that no run uses
 * (a test run may use one) are deleted. A flow that has been live keeps every
 * version; either keeps at most MAX_VERSIONS_PER_FLOW (a draft's counted once
 * the unused ones are gone).
 */
export async function writeFlowVersion(
  tx: Tx,
  f: { flowId: string; shopId: string; status: string; content: VersionContent; now: Date },
): Promise<FlowVersionRow> {
  // A draft's versions that no run uses are gone before its count: it is bounded by the ones its test runs keep
  // (edit, test, edit, test… kept every one of them, without a bound, when only a live flow's were counted).
  if (f.status === 'draft') await deleteUnusedVersions(tx, f.flowId, null);
  const [count] = await tx.$queryRaw<{ n: number; top: number }[]>`
    SELECT count(*)::int AS n, COALESCE(max(version), 0)::int AS top FROM flow_versions WHERE flow_id = ${f.flowId}::uuid`;
  if ((count?.n ?? 0) >= MAX_VERSIONS_PER_FLOW) {
    throw new AppError('LIMIT_REACHED', `A flow keeps at most ${MAX_VERSIONS_PER_FLOW} versions; copy it into a new flow to go on editing`, {
      details: { limit: MAX_VERSIONS_PER_FLOW, resource: 'flow_versions' },
    });
  }
  const [row] = await tx.$queryRaw<FlowVersionRow[]>`
    INSERT INTO flow_versions (flow_id, shop_id, version, steps, exit_condition, smart_sending, created_at)
    VALUES (${f.flowId}::uuid, ${f.shopId}::uuid, ${(count?.top ?? 0) + 1}::int, ${JSON.stringify(f.content.steps)}::jsonb,
            ${JSON.stringify(f.content.exitCondition)}::jsonb, ${JSON.stringify(f.content.smartSending)}::jsonb, ${f.now})
    RETURNING ${FLOW_VERSION_COLUMNS}`;
  const version = row as FlowVersionRow;
  await tx.$executeRaw`
    UPDATE flows SET current_version_id = ${version.id}::uuid, updated_at = ${f.now} WHERE id = ${f.flowId}::uuid AND shop_id = ${f.shopId}::uuid`;
  if (f.status === 'draft') await deleteUnusedVersions(tx, f.flowId, version.id);
  return version;
}

/** A draft's superseded versions that no run uses; `keep` (or else the flow's current version) stays. */
async function deleteUnusedVersions(tx: Tx, flowId: string, keep: string | null): Promise<void> {
  await tx.$executeRaw`
    DELETE FROM flow_versions v
     WHERE v.flow_id = ${flowId}::uuid
       AND v.id <> COALESCE(${keep}::uuid, (SELECT f.current_version_id FROM flows f WHERE f.id = ${flowId}::uuid), '00000000-0000-0000-0000-000000000000'::uuid)
       AND NOT EXISTS (SELECT 1 FROM flow_runs r WHERE r.version_id = v.id)`;
}
