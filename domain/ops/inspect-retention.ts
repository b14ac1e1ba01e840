import { sql, type DbOrTx } from '../../lib/db';
import { awaitingPruningSql, retentionCutoff } from '../campaigns/recipient-retention';

export interface RetentionInspection {
  retentionDays: number;
  /** Campaigns whose last activity is before this may have their recipients pruned. */
  cutoff: Date;
  /** campaign_recipients with its indexes and TOAST, and Postgres' estimate of its rows (as of its last ANALYZE or VACUUM). */
  table: { bytes: number; estimatedRows: number };
  /** Finished campaigns past the cutoff whose rows are not pruned yet, oldest first (at most 20 listed). */
  awaiting: { count: number; oldest: AwaitingCampaign[] };
  /** Of those, frozen (stats and chart kept on the campaign) and deleting: a job started and not finished. */
  frozenNotPruned: number;
  /** Campaigns whose rows went in the last 24 hours. */
  prunedLastDay: number;
}

export interface AwaitingCampaign {
  campaignId: string;
  shopId: string;
  status: string;
  lastActivityAt: Date;
  /** Days past the cutoff: the job is queued by reconciliation within a pass or two of reaching it. */
  overdueDays: number;
  frozen: boolean;
}

const LISTED = 20;
/** Stats or chart already kept on the campaign `c`: a pruning job began. */
const frozenSql = sql`(c.recipient_totals IS NOT NULL OR c.recipient_timeseries IS NOT NULL)`;

/**
 * What on-call needs when the recipient table grows or the pruning alert
 * fires: how big campaign_recipients is, which finished campaigns wait for
 * their rows to be pruned (the partial index campaigns_recipient_retention_idx
 * holds exactly the finished, unpruned ones, oldest first), how many are half
 * way (frozen, still deleting) and how many finished in the last day.
 * Read-only; the last figure reads the campaigns table (no index names
 * recipients_pruned_at), never the recipient rows.
 */
export async function inspectRetention(db: DbOrTx, o: { now: Date; retentionDays: number }): Promise<RetentionInspection> {
  const cutoff = retentionCutoff(o.now, o.retentionDays);
  const [size] = await db.$queryRaw<{ bytes: bigint; rows: number }[]>`
    SELECT pg_total_relation_size('campaign_recipients') AS bytes, GREATEST(reltuples, 0)::float8 AS rows
      FROM pg_class WHERE oid = 'campaign_recipients'::regclass`;
  const [counts] = await db.$queryRaw<{ awaiting: bigint; frozen: bigint; pruned: bigint }[]>`
    SELECT (SELECT count(*) FROM campaigns c WHERE ${awaitingPruningSql('c', cutoff)}) AS awaiting,
           (SELECT count(*) FROM campaigns c WHERE ${awaitingPruningSql('c', cutoff)} AND ${frozenSql}) AS frozen,
           (SELECT count(*) FROM campaigns WHERE recipients_pruned_at > ${new Date(o.now.getTime() - 86_400_000)}) AS pruned`;
  const oldest = await db.$queryRaw<{ id: string; shop_id: string; status: string; last_activity_at: Date; frozen: boolean }[]>`
    SELECT c.id, c.shop_id, c.status, c.last_activity_at, ${frozenSql} AS frozen FROM campaigns c
     WHERE ${awaitingPruningSql('c', cutoff)}
     ORDER BY c.last_activity_at LIMIT ${LISTED}`;
  return {
    retentionDays: o.retentionDays,
    cutoff,
    table: { bytes: Number(size?.bytes ?? 0), estimatedRows: Math.round(size?.rows ?? 0) },
    awaiting: {
      count: Number(counts?.awaiting ?? 0),
      oldest: oldest.map((c) => ({
        campaignId: c.id,
        shopId: c.shop_id,
        status: c.status,
        lastActivityAt: c.last_activity_at,
        overdueDays: Math.round(((cutoff.getTime() - c.last_activity_at.getTime()) / 86_400_000) * 10) / 10,
        frozen: c.frozen,
      })),
    },
    frozenNotPruned: Number(counts?.frozen ?? 0),
    prunedLastDay: Number(counts?.pruned ?? 0),
  };
}
