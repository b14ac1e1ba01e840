import type { Db } from '../../lib/db';
import { binEvents, eventSpan } from './campaign-timeseries';
import { addTotals, countRecipients, emptyTotals, type BatchRange } from './count-recipients';
import { prunableCampaignSql, retentionCutoff } from './recipient-retention';
import type { FrozenTimeseries } from './rebin-frozen-timeseries';
import { MAX_BUCKETS } from './timeseries-buckets';

/**
 * Batches read per statement. At the default 1 000 recipients a batch that is
 * 500 000 rows, ~0.3 s for the totals and ~0.6 s for the chart's bins here
 * (docs/architecture.md, "Recipient tables at 100 M rows"): a campaign of any
 * size is read in statements well under the 5 s transaction bound.
 */
export const FREEZE_READ_BATCHES = 500;

export interface FreezeResult {
  outcome: 'frozen' | 'not_eligible';
  /** Time of each part's reads over the campaign's rows (0: already frozen). */
  totalsMs: number;
  timeseriesMs: number;
  /** Statements that read the rows, and the longest of them. */
  reads: number;
  longestReadMs: number;
}

type Campaign = { started_at: Date | null; completed_at: Date | null; has_totals: boolean; has_series: boolean; last_batch: number | null };

const earliest = (a: Date | null, b: Date | null): Date | null => (a && b ? (a < b ? a : b) : (a ?? b));
const latest = (a: Date | null, b: Date | null): Date | null => (a && b ? (a > b ? a : b) : (a ?? b));

/**
 * Keeps on the campaign what stats and the chart read from its recipient
 * rows, before they are pruned: the per-status totals exactly as
 * campaign-stats.ts counts them, and the chart's bins at the finest width
 * that keeps its span within MAX_BUCKETS (coarser widths are re-binned from
 * them: rebin-frozen-timeseries.ts). Both are read in pieces of
 * `readBatches` batches, one short statement each, and summed: a row is in
 * exactly one piece (its batch never changes), so the sum counts every row
 * once. The chart first reads the whole span, so every piece bins with the
 * same width and edges. Each write re-checks that the campaign is past the
 * retention window, so a stray call for a live or recent campaign freezes
 * nothing. A column once written is never rewritten: a freeze stopped
 * half-way resumes with the other.
 */
export async function freezeCampaignRecipients(
  db: Db,
  o: { campaignId: string; now: Date; retentionDays: number; readBatches?: number; onRead?: (ms: number) => void },
): Promise<FreezeResult> {
  const cutoff = retentionCutoff(o.now, o.retentionDays);
  const result: FreezeResult = { outcome: 'frozen', totalsMs: 0, timeseriesMs: 0, reads: 0, longestReadMs: 0 };
  const [c] = await db.$queryRaw<Campaign[]>`
    SELECT c.started_at, c.completed_at, c.recipient_totals IS NOT NULL AS has_totals, c.recipient_timeseries IS NOT NULL AS has_series,
           (SELECT max(r.batch_no) FROM campaign_recipients r WHERE r.campaign_id = c.id) AS last_batch
      FROM campaigns c WHERE c.id = ${o.campaignId}::uuid AND ${prunableCampaignSql('c', cutoff)}`;
  if (!c) return { ...result, outcome: 'not_eligible' };

  const step = Math.max(1, o.readBatches ?? FREEZE_READ_BATCHES);
  const pieces: BatchRange[] = [];
  for (let from = 0; from <= (c.last_batch ?? -1); from += step) pieces.push({ from, to: from + step });
  const timed = async <T>(read: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const value = await read();
    const ms = performance.now() - started;
    result.reads++;
    result.longestReadMs = Math.max(result.longestReadMs, ms);
    o.onRead?.(ms);
    return value;
  };

  if (!c.has_totals) {
    const started = performance.now();
    const totals = emptyTotals();
    for (const range of pieces) addTotals(totals, (await timed(() => countRecipients(db, o.campaignId, range))).value);
    result.totalsMs = performance.now() - started;
    await db.$executeRaw`
      UPDATE campaigns c SET recipient_totals = ${JSON.stringify(totals)}::jsonb
       WHERE c.id = ${o.campaignId}::uuid AND c.recipient_totals IS NULL AND ${prunableCampaignSql('c', cutoff)}`;
  }

  if (!c.has_series) {
    const started = performance.now();
    // As the chart of a finished campaign reads: from its launch to its end, or its first and last event past them (campaign-timeseries.ts).
    let lo = c.started_at;
    let hi = c.completed_at;
    for (const range of pieces) {
      const span = await timed(() => eventSpan(db, { campaignId: o.campaignId, range }));
      lo = earliest(lo, span.lo);
      hi = latest(hi, span.hi);
    }
    const sums = new Map<number, [number, number, number]>();
    let shape: { width: number; lo: Date; hi: Date } | null = null;
    // A campaign that finished without a recipient row still draws empty buckets from its launch to its end: one read of an empty range gives their shape.
    for (const range of pieces.length > 0 ? pieces : [{ from: 0, to: 1 }]) {
      const { value: bins } = await timed(() => binEvents(db, { campaignId: o.campaignId, range }, { minWidth: 1, maxBuckets: MAX_BUCKETS, startedAt: lo, end: hi }));
      for (const b of bins) {
        shape ??= { width: b.width, lo: b.lo, hi: b.hi };
        // A piece whose events fell outside the span read before it (a late report meanwhile) would bin differently: read again.
        if (b.width !== shape.width || b.lo.getTime() !== shape.lo.getTime() || b.hi.getTime() !== shape.hi.getTime()) {
          throw new Error(`campaign ${o.campaignId}: its events moved while its chart was frozen; the freeze is retried`);
        }
        const at = b.at.getTime();
        const sum = sums.get(at) ?? [0, 0, 0];
        sums.set(at, [sum[0] + Number(b.sent), sum[1] + Number(b.delivered), sum[2] + Number(b.failed)]);
      }
    }
    result.timeseriesMs = performance.now() - started;
    const frozen: FrozenTimeseries = shape
      ? {
          width: shape.width,
          lo: shape.lo.toISOString(),
          hi: shape.hi.toISOString(),
          bins: [...sums.entries()]
            .filter(([, [sent, delivered, failed]]) => sent > 0 || delivered > 0 || failed > 0)
            .sort(([a], [b]) => a - b)
            .map(([at, [sent, delivered, failed]]) => [at, sent, delivered, failed]),
        }
      : { width: null, lo: null, hi: null, bins: [] };
    await db.$executeRaw`
      UPDATE campaigns c SET recipient_timeseries = ${JSON.stringify(frozen)}::jsonb
       WHERE c.id = ${o.campaignId}::uuid AND c.recipient_timeseries IS NULL AND ${prunableCampaignSql('c', cutoff)}`;
  }

  // Both written, by this call or an earlier one, while the campaign was eligible.
  const [state] = await db.$queryRaw<{ frozen: boolean }[]>`
    SELECT recipient_totals IS NOT NULL AND recipient_timeseries IS NOT NULL AS frozen FROM campaigns WHERE id = ${o.campaignId}::uuid`;
  return state?.frozen ? result : { ...result, outcome: 'not_eligible' };
}
