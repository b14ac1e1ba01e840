import type { Logger } from 'pino';
import { empty, sql, type Db } from '../../lib/db';
import type { Producer } from '../../queue/producer';
import { audienceWhere } from './audience';
import { completeCampaignIfDone } from './complete-campaign';
import { enqueueBatchJobs } from './enqueue-batch-jobs';
import { loadSendContext, type SendContext } from './send-context';

export interface LaunchDeps {
  db: Db;
  producer: Producer;
  now: () => Date;
  batchSize: number;
  logger?: Logger;
  /** Upper bound for one chunk's transaction. */
  materialiseTimeoutMs?: number;
  /** Most recipients one chunk inserts (rounded down to whole batches; default 50 000). */
  maxChunk?: number;
  /** Recipients of the first chunk (rounded likewise; default one batch): small, so the first message leaves at once. */
  firstChunk?: number;
  /** Runs after chunk `k` (0-based) committed and its jobs were added; tests throw here to kill a launch mid-way. */
  afterChunk?: (k: number) => void | Promise<void>;
}

export type LaunchResult =
  | { outcome: 'launched'; recipients: number; batches: number; completed: boolean }
  /** Not yet: scheduled for later, or inside the shop's quiet hours. Run again at `until`. */
  | { outcome: 'deferred'; until: Date; reason: 'scheduled' | 'quiet_hours' }
  /** Nothing to launch: the campaign is missing, a draft, cancelled or finished. */
  | { outcome: 'ignored'; status: string };

const LAUNCHABLE = new Set(['queued', 'scheduled']);
const DEFAULT_MAX_CHUNK = 50_000;
/** A chunk whose final guarded UPDATE found the campaign changed (cancelled meanwhile) is rolled back and read again, this often at most. */
const MAX_CHUNK_RETRIES = 5;

/**
 * The launch job: `queued|scheduled → sending`, then the audience
 * materialised in keyset chunks over contact ids (one transaction each: its
 * recipients with deterministic batch numbers, its batches), each chunk's
 * send jobs added as soon as it commits, so the first batches are sending
 * while later chunks are still being inserted. The campaign row carries the
 * cursor (the largest contact id inserted, kept by the one-per-contact
 * trigger) and the next batch number, so a launch killed mid-way resumes
 * where it stopped; `materialising` stays true until the last chunk, and a
 * campaign is never completed before (CHECK, completeCampaignIfDone).
 * Idempotent and safe to run concurrently: chunks of one campaign are
 * serialised by its advisory lock, recipients are inserted once (cursor and
 * trigger), and job ids are deterministic, so every run ends in the same
 * recipients, batches and jobs.
 */
export async function launchCampaign(
  deps: LaunchDeps,
  job: { campaignId: string; shopId: string; traceId: string },
): Promise<LaunchResult> {
  const now = deps.now();
  const ctx = await loadSendContext(deps.db, job.campaignId, job.shopId);
  if (!ctx) return { outcome: 'ignored', status: 'missing' };
  if (LAUNCHABLE.has(ctx.status)) {
    const deferred = deferral(ctx, now);
    if (deferred) return deferred;
  } else if (ctx.status !== 'sending') {
    return { outcome: 'ignored', status: ctx.status };
  } else {
    // A re-run (crash, retry, reconciliation): chunks committed before may
    // have lost their jobs with the process; adding them again is a no-op
    // for those that exist (deterministic ids).
    await enqueueBatchJobs(deps.db, deps.producer, { campaignId: ctx.campaignId, shopId: ctx.shopId, traceId: job.traceId });
  }

  const whole = (n: number): number => Math.max(deps.batchSize, Math.floor(n / deps.batchSize) * deps.batchSize);
  const maxChunk = whole(deps.maxChunk ?? DEFAULT_MAX_CHUNK);
  // Doubling from one batch: the first send job exists a few ms after the
  // launch starts, and a 1 M audience still takes ~25 chunks, not 1 000.
  let size = Math.min(maxChunk, whole(deps.firstChunk ?? deps.batchSize));
  let retries = 0;
  for (let k = 0; ; k++) {
    let chunk: ChunkResult;
    try {
      chunk = await materialiseChunk(deps, ctx, now, size);
    } catch (err) {
      if (!(err instanceof CampaignChanged) || ++retries > MAX_CHUNK_RETRIES) throw err;
      k--;
      continue;
    }
    if (chunk.outcome !== 'chunk') return chunk;
    if (chunk.batchNos.length > 0) {
      await enqueueBatchJobs(deps.db, deps.producer, { campaignId: ctx.campaignId, shopId: ctx.shopId, traceId: job.traceId, batchNos: chunk.batchNos });
    }
    if (chunk.inserted > 0) await deps.afterChunk?.(k);
    if (!chunk.done) {
      size = Math.min(maxChunk, size * 2);
      continue;
    }
    // Batches that finished before the last chunk committed could not
    // complete the campaign (still materialising): this call may be the one.
    const done = await completeCampaignIfDone(deps.db, { campaignId: ctx.campaignId, now: deps.now(), traceId: job.traceId });
    if (chunk.inserted > 0) deps.logger?.info({ campaignId: ctx.campaignId, recipients: chunk.recipients, batches: chunk.batches, chunks: k + 1 }, 'campaign launched');
    return { outcome: 'launched', recipients: chunk.recipients, batches: chunk.batches, completed: done.completed };
  }
}

function deferral(ctx: Pick<SendContext, 'scheduledAt'>, now: Date): LaunchResult | null {
  // An early job (clock skew, a manual retry, a rescheduled campaign) must never send early.
  // Quiet hours are not the launch's to apply: they are each recipient's,
  // applied by the batch claim (claim-batch.ts), so a launch at night still
  // materialises and the recipients whose morning it is are sent.
  if (ctx.scheduledAt && ctx.scheduledAt.getTime() > now.getTime()) return { outcome: 'deferred', until: ctx.scheduledAt, reason: 'scheduled' };
  return null;
}

/** The campaign changed between a chunk's read and its write (cancelled meanwhile): the chunk is rolled back. */
class CampaignChanged extends Error {}

type ChunkResult =
  | Exclude<LaunchResult, { outcome: 'launched' }>
  | {
      outcome: 'chunk';
      /** Recipients this chunk inserted. */
      inserted: number;
      /** Batches this chunk created. */
      batchNos: number[];
      /** No chunk is left: the audience is materialised. */
      done: boolean;
      /** The campaign's recipients and batches so far. */
      recipients: number;
      batches: number;
    };

interface LaunchRow {
  status: string;
  scheduled_at: Date | null;
  total_recipients: number;
  launch_cursor: string | null;
  launch_next_batch: number;
  materialising: boolean;
}

/**
 * One chunk, in one transaction: the next `size` audience contacts after the
 * cursor, in contact id order, become `pending` recipients of batches
 * numbered on from the last chunk's, with their batch rows; the campaign row
 * moves to `sending` (first chunk), on to the next batch number, and out of
 * `materialising` with its exact recipient count once a chunk comes up short.
 */
async function materialiseChunk(deps: LaunchDeps, ctx: SendContext, now: Date, size: number): Promise<ChunkResult> {
  const timeoutMs = Math.max(1_000, Math.floor(deps.materialiseTimeoutMs ?? 600_000));
  const bs = deps.batchSize;
  return deps.db.$transaction(
    async (tx) => {
      await tx.$executeRawUnsafe(`SET LOCAL statement_timeout = ${timeoutMs}`);
      // Serialises the chunks of this campaign (the one-per-contact trigger
      // takes the same lock): the row read below is what the previous chunk
      // committed, and no other run inserts meanwhile. Not the campaign's
      // row lock, which settles and cancels need while a chunk runs.
      await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`campaign_recipients:${ctx.campaignId}`}, 0))`;
      const [row] = await tx.$queryRaw<LaunchRow[]>`
        SELECT status, scheduled_at, total_recipients, launch_cursor, launch_next_batch, materialising
          FROM campaigns WHERE id = ${ctx.campaignId}::uuid`;
      if (!row) return { outcome: 'ignored', status: 'missing' } as const;
      const starting = LAUNCHABLE.has(row.status);
      if (starting) {
        if (row.scheduled_at && row.scheduled_at.getTime() > now.getTime()) {
          return { outcome: 'deferred', until: row.scheduled_at, reason: 'scheduled' } as const;
        }
      } else if (row.status !== 'sending') {
        return { outcome: 'ignored', status: row.status } as const;
      } else if (!row.materialising) {
        return { outcome: 'chunk', inserted: 0, batchNos: [], done: true, recipients: row.total_recipients, batches: row.launch_next_batch } as const;
      }

      // Walk the audience index in contact id order from the cursor: each
      // chunk reads only its own contacts (a bitmap scan would read, and
      // sort, the whole rest of the audience every time).
      await tx.$executeRawUnsafe('SET LOCAL enable_bitmapscan = off');
      await tx.$executeRawUnsafe('SET LOCAL enable_seqscan = off');
      const after = row.launch_cursor === null ? empty : sql`AND a.id > ${row.launch_cursor}::uuid`;
      const first = row.launch_next_batch;
      const [ins] = await tx.$queryRaw<{ n: number }[]>`
        WITH chunk AS (
          SELECT a.id FROM contacts a
           WHERE ${audienceWhere('a', ctx.shopId, ctx.audienceTags, ctx.audienceOrders)} ${after}
           ORDER BY a.id
           LIMIT ${size}::int
        ), numbered AS (
          SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM chunk
        ), ins AS (
          INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no)
          SELECT ${ctx.campaignId}::uuid, id, ${first}::int + (i / ${bs}::int)::int FROM numbered
          RETURNING 1
        )
        SELECT count(*)::int AS n FROM ins`;
      const inserted = ins?.n ?? 0;
      const nb = Math.ceil(inserted / bs);
      // Batch k of the chunk holds its rows k·size … k·size + size − 1: the
      // batches follow from the count, without reading the rows back.
      if (nb > 0) {
        await tx.$executeRaw`
          INSERT INTO campaign_batches (campaign_id, batch_no, recipient_count)
          SELECT ${ctx.campaignId}::uuid, ${first}::int + b, LEAST(${bs}::int, ${inserted}::int - b * ${bs}::int)
            FROM generate_series(0, ${nb - 1}::int) b
          ON CONFLICT (campaign_id, batch_no) DO NOTHING`;
      }
      const done = inserted < size;
      // Guarded by what was read: a campaign cancelled since rolls the chunk back.
      const [moved] = await tx.$queryRaw<{ total_recipients: number }[]>`
        UPDATE campaigns
           SET status = 'sending', started_at = COALESCE(started_at, ${now}), last_activity_at = ${now}, updated_at = ${now},
               launch_next_batch = ${first + nb}::int, materialising = ${!done},
               total_recipients = CASE WHEN ${done} THEN (SELECT COALESCE(sum(b.recipient_count), 0)::int FROM campaign_batches b WHERE b.campaign_id = ${ctx.campaignId}::uuid)
                                       ELSE total_recipients END
         WHERE id = ${ctx.campaignId}::uuid AND status = ${row.status} AND launch_next_batch = ${first}::int
        RETURNING total_recipients`;
      if (!moved) throw new CampaignChanged(`campaign ${ctx.campaignId} changed during its launch`);
      return {
        outcome: 'chunk',
        inserted,
        batchNos: Array.from({ length: nb }, (_, b) => first + b),
        done,
        recipients: moved.total_recipients,
        batches: first + nb,
      } as const;
    },
    { timeout: timeoutMs },
  );
}
