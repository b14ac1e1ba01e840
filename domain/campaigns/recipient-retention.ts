import { raw, sql, type Sql } from '../../lib/db';
import { campaignHasOpenRowsSql } from './batch-rows';

const DAY_MS = 24 * 3600_000;

/** Campaigns whose last activity is older than this may have their recipients pruned. */
export function retentionCutoff(now: Date, retentionDays: number): Date {
  return new Date(now.getTime() - retentionDays * DAY_MS);
}

/**
 * `c` (a campaigns alias) is finished for good and has been quiet since
 * before `cutoff`: a final status, nothing open (a cancelled campaign's batch
 * jobs may still be cancelling pending rows), its reservation closed. Such a
 * campaign's recipients no longer change but for a stray late report, and
 * attribution no longer reads them (the cutoff is past every window: config.ts).
 */
export function prunableCampaignSql(c: string, cutoff: Date): Sql {
  const col = (name: string): Sql => raw(`"${c.replace(/"/g, '')}".${name}`);
  const id = col('id');
  return sql`(${col('status')} IN ('completed', 'cancelled', 'failed')
           AND ${col('last_activity_at')} < ${cutoff}
           AND coalesce(greatest(${col('completed_at')}, ${col('cancelled_at')}) < ${cutoff}, true)
           AND NOT ${campaignHasOpenRowsSql(id)}
           AND NOT EXISTS (SELECT 1 FROM credit_reservations cr WHERE cr.campaign_id = ${id} AND cr.status = 'active'))`;
}

/**
 * `c` (a campaigns alias) is finished, its rows not pruned, and quiet since
 * before `cutoff`: exactly what the partial index
 * campaigns_recipient_retention_idx holds, by last activity. Eligibility for
 * the pruning job adds prunableCampaignSql; the gauges and on-call count this.
 */
export function awaitingPruningSql(c: string, cutoff: Date): Sql {
  const col = (name: string): Sql => raw(`"${c.replace(/"/g, '')}".${name}`);
  return sql`(${col('status')} IN ('completed', 'cancelled', 'failed') AND ${col('recipients_pruned_at')} IS NULL AND ${col('last_activity_at')} < ${cutoff})`;
}

