import type { Logger } from 'pino';
import type { Db } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';
import { freezeCampaignRecipients } from './freeze-campaign-recipients';

/**
 * Rows per DELETE. A recipient row has no foreign key pointing at it and no
 * delete trigger, so a chunk costs its heap and index entries only
 * (docs/architecture.md, "Recipient tables at 100 M rows": measured well
 * below a second).
 */
export const PRUNE_CHUNK_ROWS = 5_000;
/** How long one run of the job deletes before it gives its queue slot back (the job resumes where the data says). */
export const PRUNE_SLICE_MS = 10_000;

export interface PruneRecipientsResult {
  /** pruned: no row is left (recipients_pruned_at set); yielded: the slice ran out; not_eligible: nothing done. */
  outcome: 'pruned' | 'yielded' | 'not_eligible';
  deleted: number;
  chunks: number;
  longestChunkMs: number;
  /** The freeze's reads of the rows (all 0: frozen by an earlier run). */
  freeze: { totalsMs: number; timeseriesMs: number; reads: number; longestReadMs: number };
  durationMs: number;
}

/**
 * The campaigns.prune-recipients.v1 job's work: freezes the campaign's
 * stats and chart unless done (freeze-campaign-recipients.ts, which also
 * decides eligibility: finished and quiet for RECIPIENT_RETENTION_DAYS),
 * then deletes its recipient rows, each chunk one statement of its own that
 * deletes only while the campaign is frozen, until none is left or `sliceMs`
 * has passed. Resumable by construction: the rows left are the state. Its
 * batches stay (the campaigns list reads their counters).
 */
export async function pruneCampaignRecipients(
  deps: { db: Db; logger: Logger; metrics: Metrics },
  campaignId: string,
  o: { now: Date; retentionDays: number; chunkRows?: number; sliceMs?: number; freezeReadBatches?: number },
): Promise<PruneRecipientsResult> {
  const chunkRows = o.chunkRows ?? PRUNE_CHUNK_ROWS;
  const sliceMs = o.sliceMs ?? PRUNE_SLICE_MS;
  const started = performance.now();
  const result: PruneRecipientsResult = { outcome: 'not_eligible', deleted: 0, chunks: 0, longestChunkMs: 0, freeze: { totalsMs: 0, timeseriesMs: 0, reads: 0, longestReadMs: 0 }, durationMs: 0 };
  const done = (outcome: PruneRecipientsResult['outcome']): PruneRecipientsResult => {
    const r = { ...result, outcome, longestChunkMs: Math.round(result.longestChunkMs), durationMs: Math.round(performance.now() - started) };
    deps.logger.info({ campaignId, ...r }, `campaign recipients: ${outcome}`);
    deps.metrics.recipientPruneRuns.inc({ outcome });
    return r;
  };

  const [state] = await deps.db.$queryRaw<{ frozen: boolean; pruned: boolean }[]>`
    SELECT recipient_totals IS NOT NULL AND recipient_timeseries IS NOT NULL AS frozen, recipients_pruned_at IS NOT NULL AS pruned
      FROM campaigns WHERE id = ${campaignId}::uuid`;
  if (!state) return done('not_eligible');
  if (state.pruned) return done('pruned');
  if (!state.frozen) {
    const freeze = await freezeCampaignRecipients(deps.db, {
      campaignId,
      now: o.now,
      retentionDays: o.retentionDays,
      readBatches: o.freezeReadBatches,
      onRead: (ms) => deps.metrics.recipientPruneStatementDuration.observe({ step: 'freeze_read' }, ms / 1000),
    });
    const ms = (v: number) => Math.round(v);
    result.freeze = { totalsMs: ms(freeze.totalsMs), timeseriesMs: ms(freeze.timeseriesMs), reads: freeze.reads, longestReadMs: ms(freeze.longestReadMs) };
    if (freeze.outcome === 'not_eligible') return done('not_eligible');
  }

  // Chunks go up the (campaign_id, batch_no) index from the last batch touched, past the dead entries of earlier chunks.
  let fromBatch = 0;
  for (;;) {
    // Checked after a chunk, never before the first: every run progresses, however short its slice.
    if (result.chunks > 0 && performance.now() - started >= sliceMs) return done('yielded');
    const chunkStarted = performance.now();
    const [chunk] = await deps.db.$queryRaw<{ n: bigint; last_batch: number | null }[]>`
      WITH d AS (
        DELETE FROM campaign_recipients
         WHERE ctid = ANY(ARRAY(SELECT ctid FROM campaign_recipients
                                 WHERE campaign_id = ${campaignId}::uuid AND batch_no >= ${fromBatch}::int
                                 ORDER BY batch_no LIMIT ${chunkRows}::int))
           AND EXISTS (SELECT 1 FROM campaigns WHERE id = ${campaignId}::uuid AND recipient_totals IS NOT NULL AND recipient_timeseries IS NOT NULL)
        RETURNING batch_no
      )
      SELECT count(*) AS n, max(batch_no) AS last_batch FROM d`;
    const deleted = Number(chunk?.n ?? 0);
    if (deleted > 0) {
      result.chunks++;
      result.deleted += deleted;
      const chunkMs = performance.now() - chunkStarted;
      result.longestChunkMs = Math.max(result.longestChunkMs, chunkMs);
      deps.metrics.recipientPruneStatementDuration.observe({ step: 'delete_chunk' }, chunkMs / 1000);
      deps.metrics.recipientPruneRows.inc(deleted);
      fromBatch = chunk!.last_batch ?? fromBatch;
    }
    if (deleted < chunkRows) {
      // None left (nothing adds recipients to a finished campaign): the job is done for good.
      const marked = await deps.db.$executeRaw`
        UPDATE campaigns SET recipients_pruned_at = ${o.now}
         WHERE id = ${campaignId}::uuid AND recipients_pruned_at IS NULL
           AND recipient_totals IS NOT NULL AND recipient_timeseries IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM campaign_recipients WHERE campaign_id = ${campaignId}::uuid)`;
      if (marked === 1) return done('pruned');
      // Nothing deletable from the start: not frozen, or pruned by another run meanwhile.
      if (deleted === 0 && fromBatch === 0) return done('not_eligible');
      // Rows a chunk missed (one updated under it by a late report, or below the cursor): once more from the start.
      fromBatch = 0;
    }
  }
}
