import type { DbOrTx } from '../../lib/db';
import type { ScanThrottle } from '../../lib/scan-throttle';
import { getCampaignRow } from './get-campaign';

/** Bucket widths a client may ask for (`bucket` query parameter), in seconds. */
export const BUCKET_WIDTHS = {
  '1s': 1,
  '5s': 5,
  '10s': 10,
  '30s': 30,
  '1m': 60,
  '5m': 300,
  '15m': 900,
  '30m': 1800,
  '1h': 3600,
  '3h': 10_800,
  '6h': 21_600,
  '12h': 43_200,
  '1d': 86_400,
  '7d': 604_800,
} as const;
export type BucketName = keyof typeof BUCKET_WIDTHS;

const LADDER = Object.values(BUCKET_WIDTHS);
/** `bucket=auto` picks the finest width drawing the campaign in at most this many buckets (a chart's worth). */
export const AUTO_BUCKETS = 60;
/** No answer has more buckets: a width too fine for the campaign's span is widened. */
export const MAX_BUCKETS = 500;

export interface TimeseriesPoint {
  /** Start of the bucket (UTC). */
  at: string;
  /** Messages accepted by the provider in the bucket (`sent_at`; they may be delivered or failed later). */
  sent: number;
  /** Delivery reports of `delivered` received in the bucket. */
  delivered: number;
  /** Messages that ended `failed` in the bucket (refused at send or reported failed). */
  failed: number;
}

export interface CampaignTimeseries {
  /** Width of every bucket; null when there is nothing to draw yet. */
  bucketSeconds: number | null;
  /** Start of the first bucket and end of the last; null with no buckets. */
  from: string | null;
  to: string | null;
  /** Every bucket from the launch to the latest event (now while the campaign sends), zero-filled, oldest first. */
  points: TimeseriesPoint[];
}

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
  const c = await getCampaignRow(db, o.shopId, o.campaignId);
  const auto = o.bucket === 'auto';
  const minWidth = o.bucket === 'auto' ? 1 : BUCKET_WIDTHS[o.bucket];
  const maxBuckets = auto ? AUTO_BUCKETS : MAX_BUCKETS;
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

type Bin = { width: number; at: Date; sent: bigint; delivered: bigint; failed: bigint };

/** The binning statement; `rows` is what it read, about the campaign's messages (a cost for scan-throttle.ts). */
async function binEvents(
  db: DbOrTx,
  o: { campaignId: string },
  w: { minWidth: number; maxBuckets: number; startedAt: Date | null; end: Date | null },
): Promise<{ value: Bin[]; rows: number }> {
  const { minWidth, maxBuckets } = w;
  const rows = await db.$queryRaw<Bin[]>`
    WITH ev AS MATERIALIZED (
      SELECT r.sent_at, CASE WHEN r.status IN ('delivered', 'failed') THEN r.final_at END AS final_at, r.status
        FROM campaign_recipients r
       WHERE r.campaign_id = ${o.campaignId}::uuid
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
               ceil(extract(epoch FROM span.hi - span.lo) / ${maxBuckets - 2}::int))) AS width
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
    SELECT extract(epoch FROM w.width)::int AS width, bins.at,
           coalesce(sent.n, 0) AS sent, coalesce(fin.delivered, 0) AS delivered, coalesce(fin.failed, 0) AS failed
      FROM w, bins LEFT JOIN sent USING (at) LEFT JOIN fin USING (at)
     ORDER BY bins.at`;
  return { value: rows, rows: rows.reduce((sum, r) => sum + Number(r.sent) + Number(r.failed), 0) };
}
