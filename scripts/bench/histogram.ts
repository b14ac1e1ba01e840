// A Prometheus histogram as the bench reads it from a /metrics text: the
// cumulative count per upper bound, summed over the series a filter keeps,
// and what two scrapes of it say about the requests made in between.

/** Cumulative counts per upper bound (seconds; `+Inf` as Infinity). */
export type Buckets = Map<number, number>;

/** The `<name>_bucket` series of `text` whose label set `keep` accepts, summed per bound. */
export function parseBuckets(text: string, name: string, keep: (labels: string) => boolean): Buckets {
  const out: Buckets = new Map();
  const line = new RegExp(`^${name}_bucket\\{([^}]*)\\} ([0-9.eE+-]+)$`, 'gm');
  for (const m of text.matchAll(line)) {
    const labels = m[1] as string;
    if (!keep(labels)) continue;
    const le = /(?:^|,)le="([^"]+)"/.exec(labels)?.[1];
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    out.set(bound, (out.get(bound) ?? 0) + Number(m[2]));
  }
  return out;
}

/** What was observed between two scrapes of the same process. */
export function bucketsBetween(before: Buckets, after: Buckets): Buckets {
  const out: Buckets = new Map();
  for (const [bound, n] of after) out.set(bound, n - (before.get(bound) ?? 0));
  return out;
}

const sorted = (b: Buckets): [number, number][] => [...b].sort((x, y) => x[0] - y[0]);

export function countOf(b: Buckets): number {
  return b.get(Infinity) ?? 0;
}

/** Share of the observations at or under `bound`, which must be one of the histogram's bounds. */
export function shareAtMost(b: Buckets, bound: number): number {
  const total = countOf(b);
  const at = b.get(bound);
  if (at === undefined) throw new Error(`${bound} is not a bucket bound`);
  return total === 0 ? 1 : at / total;
}

/**
 * The q-quantile, interpolated linearly inside its bucket (as PromQL's
 * histogram_quantile): exact at the bounds, an estimate between them.
 * Past the last finite bound it is that bound (the histogram cannot say more).
 */
export function quantileOf(b: Buckets, q: number): number {
  const total = countOf(b);
  if (total === 0) return NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [bound, n] of sorted(b)) {
    if (n >= rank) {
      if (bound === Infinity) return lower;
      return lower + ((bound - lower) * (rank - below)) / Math.max(1, n - below);
    }
    lower = bound;
    below = n;
  }
  return lower;
}
