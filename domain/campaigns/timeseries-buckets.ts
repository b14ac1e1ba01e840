// The chart's bucket widths and answer shape, shared by the live binning
// (campaign-timeseries.ts) and the frozen bins' re-binning (rebin-frozen-timeseries.ts).

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

/** The widths, finest first; each is a whole multiple of the one before (so coarser bins are unions of finer ones). */
export const LADDER: number[] = Object.values(BUCKET_WIDTHS);
/** The coarsest width: a span too long for every ladder width gets a multiple of it (so frozen bins still add up to its bins). */
export const COARSEST_WIDTH = LADDER[LADDER.length - 1]!;
/**
 * The width of a span no ladder width draws within `maxBuckets - 2` buckets
 * (over 58 weeks at `auto`): the next multiple of the coarsest width, not the
 * span over the bound, so that it is a multiple of every ladder width and a
 * frozen chart re-bins to exactly the live one (rebin-frozen-timeseries.ts).
 */
export function beyondLadderWidth(spanSeconds: number, maxBuckets: number): number {
  return Math.max(1, Math.ceil(spanSeconds / (maxBuckets - 2) / COARSEST_WIDTH)) * COARSEST_WIDTH;
}
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
