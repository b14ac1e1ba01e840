import { type Sql, join, sql, type DbOrTx } from '../../lib/db';
import { decodeCursor, pageOf } from '../../lib/cursor';
import type { FlowStatus } from './flow-input';
import { FLOW_VERSION_COLUMNS, toFlowView, type FlowRow, type FlowVersionRow, type FlowView } from './flow-view';

type ListedRow = FlowRow & { v: FlowVersionRow | null; active_runs: number };

/**
 * Newest first, keyset-paginated on (created_at, id) like campaigns, each with
 * its current version and how many runs it has in progress. A deleted flow
 * is never listed (its job is still removing its history).
 */
export async function listFlows(
  db: DbOrTx,
  shopId: string,
  q: { limit: number; cursor?: string; status?: FlowStatus },
): Promise<{ data: (FlowView & { activeRuns: number })[]; nextCursor: string | null }> {
  const where: Sql[] = [sql`f.shop_id = ${shopId}::uuid`, sql`f.status <> 'deleted'`];
  if (q.cursor !== undefined) {
    const c = decodeCursor(q.cursor);
    where.push(sql`(f.created_at, f.id) < (${c.createdAt}::timestamptz, ${c.id}::uuid)`);
  }
  if (q.status) where.push(sql`f.status = ${q.status}`);
  const rows = await db.$queryRaw<ListedRow[]>`
    SELECT f.id, f.shop_id, f.name, f.trigger_type, f.trigger_config, f.status, f.current_version_id, f.created_at, f.updated_at, f.activated_at,
           (SELECT to_jsonb(x) FROM (SELECT ${FLOW_VERSION_COLUMNS} FROM flow_versions WHERE id = f.current_version_id) x) AS v,
           (SELECT count(*) FROM flow_runs r WHERE r.flow_id = f.id AND r.status = 'active')::int AS active_runs
      FROM flows f
     WHERE ${join(where, ' AND ')}
     ORDER BY f.created_at DESC, f.id DESC
     LIMIT ${q.limit + 1}`;
  return pageOf(rows, q.limit, (r) => ({
    ...toFlowView(r, r.v ? { ...r.v, created_at: new Date(r.v.created_at as unknown as string) } : null),
    activeRuns: r.active_runs,
  }));
}
