import { beyondLadderWidth, LADDER, type CampaignTimeseries } from './timeseries-buckets';

/**
 * A finished campaign's chart, frozen before its recipient rows were pruned
 * (freeze-campaign-recipients.ts): the bins at the finest width of the
 * ladder that kept its span within MAX_BUCKETS, only the non-empty ones, as
 * `[start ms, sent, delivered, failed]`, with the span the live statement
 * chose widths from. `width` null: nothing was ever sent.
 */
export interface FrozenTimeseries {
  width: number | null;
  lo: string | null;
  hi: string | null;
  bins: [number, number, number, number][];
}

/**
 * Answers a chart request from frozen bins as the live statement
 * (campaign-timeseries.ts) would have from the rows: the same width choice
 * from the same span, bins aligned to the epoch, zero-filled from the first
 * to the last. Every ladder width is a multiple of the finer ones, so a
 * coarser bin is exactly the sum of the frozen bins it covers; a width finer
 * than the frozen one cannot be rebuilt and gets the frozen width (as a
 * too-fine width is widened anyway).
 */
export function rebinFrozen(f: FrozenTimeseries, o: { minWidth: number; maxBuckets: number }): CampaignTimeseries {
  if (f.width === null || f.lo === null || f.hi === null) return { bucketSeconds: null, from: null, to: null, points: [] };
  const lo = Date.parse(f.lo);
  const hi = Date.parse(f.hi);
  const spanSeconds = (hi - lo) / 1000;
  // The live statement's choice: the finest ladder width ≥ minWidth that fits, else a multiple of the coarsest.
  const chosen = LADDER.find((s) => s >= o.minWidth && spanSeconds / s <= o.maxBuckets - 2) ?? beyondLadderWidth(spanSeconds, o.maxBuckets);
  const width = chosen <= f.width ? f.width : Math.ceil(chosen / f.width) * f.width;
  const step = width * 1000;
  const binOf = (ms: number): number => Math.floor(ms / step) * step;
  const sums = new Map<number, [number, number, number]>();
  for (const [at, sent, delivered, failed] of f.bins) {
    const key = binOf(at);
    const s = sums.get(key) ?? [0, 0, 0];
    sums.set(key, [s[0] + sent, s[1] + delivered, s[2] + failed]);
  }
  const points: CampaignTimeseries['points'] = [];
  for (let at = binOf(lo); at <= hi; at += step) {
    const [sent, delivered, failed] = sums.get(at) ?? [0, 0, 0];
    points.push({ at: new Date(at).toISOString(), sent, delivered, failed });
  }
  return {
    bucketSeconds: width,
    from: points[0]!.at,
    to: new Date(binOf(hi) + step).toISOString(),
    points,
  };
}
