import { type Sql, join, sql, type DbOrTx } from '../../lib/db';
import { decodeCursor, pageOf } from '../../lib/cursor';
import { EMPTY_PERFORMANCE, pagePerformance, type CampaignPerformance } from './campaign-performance';
import { CAMPAIGN_COLUMNS, toCampaignView, type CampaignRow, type CampaignView } from './campaign-view';
import type { CampaignStatus } from './send-context';

/** Newest first, keyset-paginated on (created_at, id) through campaigns_shop_id_created_at_id_idx; each with what it earned (campaign-performance.ts). */
export async function listCampaigns(
  db: DbOrTx,
  shopId: string,
  q: { limit: number; cursor?: string; status?: CampaignStatus },
): Promise<{ data: (CampaignView & CampaignPerformance)[]; nextCursor: string | null }> {
  const where: Sql[] = [sql`shop_id = ${shopId}::uuid`];
  if (q.cursor !== undefined) {
    const c = decodeCursor(q.cursor);
    where.push(sql`(created_at, id) < (${c.createdAt}::timestamptz, ${c.id}::uuid)`);
  }
  if (q.status) where.push(sql`status = ${q.status}`);
  const rows = await db.$queryRaw<CampaignRow[]>`
    SELECT ${CAMPAIGN_COLUMNS} FROM campaigns
     WHERE ${join(where, ' AND ')}
     ORDER BY created_at DESC, id DESC
     LIMIT ${q.limit + 1}`;
  const page = pageOf(rows, q.limit, toCampaignView);
  const perf = await pagePerformance(db, shopId, page.data);
  return { data: page.data.map((v) => ({ ...v, ...(perf.get(v.id) ?? EMPTY_PERFORMANCE) })), nextCursor: page.nextCursor };
}
