import type { DbOrTx } from '../../lib/db';
import type { ScanThrottle } from '../../lib/scan-throttle';
import { batchRangeSql, type BatchRange } from './count-recipients';
import { getCampaignWithFrozen } from './get-campaign';
import { rebinFrozen } from './rebin-frozen-timeseries';
import { AUTO_BUCKETS, BUCKET_WIDTHS, COARSEST_WIDTH, LADDER, MAX_BUCKETS, type BucketName, type CampaignTimeseries } from './timeseries-buckets';

export { AUTO_BUCKETS, BUCKET_WIDTHS, MAX_BUCKETS, type BucketName, type CampaignTimeseries, type TimeseriesPoint } from './timeseries-buckets';

const LIVE = new Set(['queued', 'sending']);

/**
 * Messages over time for one campaign: one statement reads the campaign's
 * recipients once through (campaign_id, batch_no) — the index every
 * per-campaign read uses; none may name sent_at or final_at, which the settle
 * writes (see batch-rows.ts) — then bins them with date_bin and zero-fills
 * with generate_series. The width is chosen in SQL from the span it found:
 * the finest of BUCKET_WIDTHS at least `minWidth` that keeps the count
 * within `maxBuckets`, so an answer never has more than MAX_BUCKETS points.
 */
export async function campaignTimeseries(
  db: DbOrTx,
  o: { shopId: string; campaignId: string; bucket: BucketName | 'auto'; now: Date; scans?: ScanThrottle },
): Promise<CampaignTimeseries> {
  // Tenant check first: another shop's campaign is 404 before its rows are read.
  const c = await getCampaignWithFrozen(db, o.shopId, o.campaignId);
  const auto = o.bucket === 'auto';
  const minWidth = o.bucket === 'auto' ? 1 : BUCKET_WIDTHS[o.bucket];
  const maxBuckets = auto ? AUTO_BUCKETS : MAX_BUCKETS;
  // Past the recipient retention the rows may be gone: the bins frozen before they were deleted answer.
  if (c.recipient_timeseries) return rebinFrozen(c.recipient_timeseries, { minWidth, maxBuckets });
  // While it sends the chart runs up to now; afterwards to its end (late delivery reports extend it).
  const end = LIVE.has(c.status) ? o.now : c.completed_at;
  const read = () => binEvents(db, o, { minWidth, maxBuckets, startedAt: c.started_at, end });
  const rows = o.scans ? await o.scans.read(`timeseries:${o.shopId}:${o.campaignId}:${o.bucket}`, read) : (await read()).value;
  if (rows.length === 0) return { bucketSeconds: null, from: null, to: null, points: [] };
  const width = rows[0]!.width;
  const last = rows[rows.length - 1]!.at;
  return {
    bucketSeconds: width,
    from: rows[0]!.at.toISOString(),
    to: new Date(last.getTime() + width * 1000).toISOString(),
    points: rows.map((r) => ({ at: r.at.toISOString(), sent: Number(r.sent), delivered: Number(r.delivered), failed: Number(r.failed) })),
  };
}

type Bin = { width: number; lo: Date; hi: Date; at: Date; sent: bigint; delivered: bigint; failed: bigint };

/**
 * The binning statement; `rows` is what it read, about the campaign's
 * messages (a cost for scan-throttle.ts). Each bin also carries the span
 * (`lo`, `hi`) the width was chosen from, which a frozen copy keeps.
 */
export async function binEvents(
  db: DbOrTx,
  o: { campaignId: string; range?: BatchRange },
  w: { minWidth: number; maxBuckets: number; startedAt: Date | null; end: Date | null },
): Promise<{ value: Bin[]; rows: number }> {
  const { minWidth, maxBuckets } = w;
  const rows = await db.$queryRaw<Bin[]>`
    WITH ev AS MATERIALIZED (
      SELECT r.sent_at, CASE WHEN r.status IN ('delivered', 'failed') THEN r.final_at END AS final_at, r.status
        FROM campaign_recipients r
       WHERE r.campaign_id = ${o.campaignId}::uuid ${batchRangeSql('r', o.range)}
         AND (r.sent_at IS NOT NULL OR (r.status IN ('delivered', 'failed') AND r.final_at IS NOT NULL))
    ), span AS (
      SELECT least(min(ev.sent_at), min(ev.final_at), ${w.startedAt}::timestamptz) AS lo,
             greatest(max(ev.sent_at), max(ev.final_at), ${w.end}::timestamptz) AS hi
        FROM ev
    ), w AS (
      -- Two buckets of slack: the first starts before lo, the last ends after hi.
      SELECT span.lo, span.hi, make_interval(secs => coalesce(
               (SELECT s FROM unnest(${LADDER}::int[]) s
                 WHERE s >= ${minWidth}::int AND extract(epoch FROM span.hi - span.lo) / s <= ${maxBuckets - 2}::int
                 ORDER BY s LIMIT 1),
               -- Past the ladder: a multiple of its coarsest width (beyondLadderWidth in timeseries-buckets.ts).
               greatest(1, ceil(extract(epoch FROM span.hi - span.lo) / ${maxBuckets - 2}::int / ${COARSEST_WIDTH}::int)) * ${COARSEST_WIDTH}::int)) AS width
        FROM span WHERE span.lo IS NOT NULL
    ), bins AS (
      SELECT generate_series(date_bin(w.width, w.lo, TIMESTAMPTZ '1970-01-01 00:00:00+00'), w.hi, w.width) AS at FROM w
    ), sent AS (
      SELECT date_bin(w.width, ev.sent_at, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS at, count(*) AS n
        FROM ev, w WHERE ev.sent_at IS NOT NULL GROUP BY 1
    ), fin AS (
      SELECT date_bin(w.width, ev.final_at, TIMESTAMPTZ '1970-01-01 00:00:00+00') AS at,
             count(*) FILTER (WHERE ev.status = 'delivered') AS delivered, count(*) FILTER (WHERE ev.status = 'failed') AS failed
        FROM ev, w WHERE ev.final_at IS NOT NULL GROUP BY 1
    )
    SELECT extract(epoch FROM w.width)::int AS width, w.lo, w.hi, bins.at,
           coalesce(sent.n, 0) AS sent, coalesce(fin.delivered, 0) AS delivered, coalesce(fin.failed, 0) AS failed
      FROM w, bins LEFT JOIN sent USING (at) LEFT JOIN fin USING (at)
     ORDER BY bins.at`;
  return { value: rows, rows: rows.reduce((sum, r) => sum + Number(r.sent) + Number(r.failed), 0) };
}

/**
 * The first and last event of `range`'s recipients as binEvents sees them
 * (a send, or a delivered or failed outcome): a chart read in pieces takes
 * its width from the whole span, so every piece bins alike.
 */
export async function eventSpan(db: DbOrTx, o: { campaignId: string; range: BatchRange }): Promise<{ lo: Date | null; hi: Date | null }> {
  const [span] = await db.$queryRaw<{ lo: Date | null; hi: Date | null }[]>`
    SELECT least(min(r.sent_at), min(r.final_at) FILTER (WHERE r.status IN ('delivered', 'failed'))) AS lo,
           greatest(max(r.sent_at), max(r.final_at) FILTER (WHERE r.status IN ('delivered', 'failed'))) AS hi
      FROM campaign_recipients r
     WHERE r.campaign_id = ${o.campaignId}::uuid ${batchRangeSql('r', o.range)}`;
  return { lo: span?.lo ?? null, hi: span?.hi ?? null };
}
