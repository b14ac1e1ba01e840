import type { DbOrTx } from '../../lib/db';
import type { CampaignRow } from './campaign-view';
import { audienceStatKeys, AUDIENCE_STATS_COLUMNS, type AudienceStats } from './estimate-audience';
import { SEND_CONTEXT_COLUMNS, sendContextOf, type SendContext, type SendContextRow } from './send-context';

export interface EnqueueContext {
  ctx: SendContext;
  /** The campaign as read: the response of an enqueue is this row after its status change. */
  row: CampaignRow;
  /**
   * The audience's stats, read by the same statement from the tags the row
   * held; undefined when the SQL reading of the tags disagreed with
   * audienceStatKeys (the caller then reads them itself).
   */
  stats: AudienceStats | undefined;
  /** The shop's status as this read saw it ('active' when installed). */
  shopStatus: string;
}

type Row = SendContextRow & CampaignRow & AudienceStats & { stat_keys: string[]; shop_status: string };

/**
 * What enqueueing a campaign needs, in one statement: the send context, the
 * campaign row, and the aggregate of its audience's stats (the tags come
 * from the row itself, so no second round trip waits on the first).
 */
export async function readEnqueueContext(db: DbOrTx, campaignId: string, shopId: string): Promise<EnqueueContext | null> {
  const rows = await db.$queryRaw<Row[]>`
    SELECT ${SEND_CONTEXT_COLUMNS}, c.name, c.created_at, c.updated_at, c.started_at, c.completed_at,
           k.stat_keys, s.status AS shop_status, a.*
      FROM campaigns c JOIN shops s ON s.id = c.shop_id
     CROSS JOIN LATERAL (
       SELECT COALESCE(NULLIF(ARRAY(
                SELECT DISTINCT e #>> '{}'
                  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(c.audience -> 'tags') = 'array' THEN c.audience -> 'tags' ELSE '[]'::jsonb END) e
                 WHERE jsonb_typeof(e) = 'string'), '{}'::text[]), ARRAY['']) AS stat_keys) k
     CROSS JOIN LATERAL (SELECT ${AUDIENCE_STATS_COLUMNS} FROM audience_stats WHERE shop_id = c.shop_id AND tag = ANY(k.stat_keys)) a
     WHERE c.id = ${campaignId}::uuid AND c.shop_id = ${shopId}::uuid`;
  const r = rows[0];
  if (!r) return null;
  // The row holds the campaign's columns (CampaignRow) beside the shop's and the stats.
  const { stat_keys, shop_status, n, first_len, last_len, first_unicode, last_unicode, ...row } = r;
  const ctx = sendContextOf(r);
  const agree = stat_keys.sort().join('\u0000') === audienceStatKeys(ctx.audienceTags).sort().join('\u0000');
  return { ctx, row, stats: agree ? { n, first_len, last_len, first_unicode, last_unicode } : undefined, shopStatus: shop_status };
}
