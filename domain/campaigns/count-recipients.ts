import { empty, raw, sql, type DbOrTx, type Sql } from '../../lib/db';
import { recipientStatusSql } from './batch-rows';

export const RECIPIENT_STATUSES = ['pending', 'sending', 'sent', 'delivered', 'failed', 'skipped', 'cancelled', 'unknown'] as const;
export type RecipientStatus = (typeof RECIPIENT_STATUSES)[number];

/**
 * What campaign stats count from a campaign's recipient rows; also the
 * `recipient_totals` frozen on the campaign before its rows are pruned
 * (freeze-campaign-recipients.ts), so the two answer alike.
 */
export type RecipientTotals = Record<RecipientStatus, number> & {
  /** Of `skipped`, those smart sending held back (error_code frequency_cap). */
  skippedFrequencyCap: number;
  /** Of `skipped`, those whose quiet hours left no instant to send within the bound (error_code quiet_hours). Absent from totals frozen before it was counted. */
  skippedQuietHours: number;
  /** Of `pending`, those waiting for their quiet hours to end (in a batch deferred to its `not_before`). */
  deferred: number;
  /** What went out, delivered or not: the rows with a sent_at. */
  messages: number;
};

type StatusGroup = { status: RecipientStatus; n: bigint; capped: bigint; quiet: bigint; deferred: bigint; gone: bigint };

/** Batches `from` (inclusive) to `to` (exclusive) of a campaign: one piece of a read split to stay short. */
export interface BatchRange {
  from: number;
  to: number;
}

/** The recipients of `r` (a campaign_recipients alias) in `range`, through the (campaign_id, batch_no) index. */
export function batchRangeSql(r: string, range: BatchRange | undefined): Sql {
  if (!range) return empty;
  const col = raw(`${r.replace(/[^a-z_]/gi, '')}.batch_no`);
  return sql`AND ${col} >= ${range.from}::int AND ${col} < ${range.to}::int`;
}

/** Adds one piece's totals into `into` (a count read in pieces sums them). */
export function addTotals(into: RecipientTotals, piece: RecipientTotals): RecipientTotals {
  for (const k of Object.keys(into) as (keyof RecipientTotals)[]) into[k] += piece[k];
  return into;
}

export const emptyTotals = (): RecipientTotals =>
  ({ ...Object.fromEntries(RECIPIENT_STATUSES.map((s) => [s, 0])), skippedFrequencyCap: 0, skippedQuietHours: 0, deferred: 0, messages: 0 }) as RecipientTotals;

/**
 * One GROUP BY over the campaign's recipients (those of `range` only, when
 * given). `sending` counts what is in flight: the pending rows of claimed
 * batches too (a claim is the batch's, not written to rows). `rows` is how
 * many it read (a cost for scan-throttle.ts).
 */
export async function countRecipients(db: DbOrTx, campaignId: string, range?: BatchRange): Promise<{ value: RecipientTotals; rows: number }> {
  const groups = await db.$queryRaw<StatusGroup[]>`
    SELECT ${recipientStatusSql('r', 'b')} AS status, count(*) AS n,
           count(*) FILTER (WHERE r.sent_at IS NOT NULL) AS gone,
           count(*) FILTER (WHERE r.status = 'skipped' AND r.error_code = 'frequency_cap') AS capped,
           count(*) FILTER (WHERE r.status = 'skipped' AND r.error_code = 'quiet_hours') AS quiet,
           count(*) FILTER (WHERE r.status = 'pending' AND b.claim_token IS NULL AND b.not_before IS NOT NULL) AS deferred
      FROM campaign_recipients r
      LEFT JOIN campaign_batches b ON b.campaign_id = r.campaign_id AND b.batch_no = r.batch_no
     WHERE r.campaign_id = ${campaignId}::uuid ${batchRangeSql('r', range)} GROUP BY 1`;
  const totals = emptyTotals();
  for (const g of groups) {
    totals.messages += Number(g.gone);
    totals[g.status] = Number(g.n);
    totals.skippedFrequencyCap += Number(g.capped);
    totals.skippedQuietHours += Number(g.quiet);
    totals.deferred += Number(g.deferred);
  }
  return { value: totals, rows: groups.reduce((sum, g) => sum + Number(g.n), 0) };
}
