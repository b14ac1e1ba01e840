import type { Logger } from 'pino';
import { empty, sql, type Db, type Tx } from '../../lib/db';
import type { Producer } from '../../queue/producer';
import { DEV_TRACKED_LINKS, type TrackedLinks } from '../links/link-code';
import { parseTemplate } from '../messaging/template';
import { audienceWhere } from './audience';
import { completeCampaignIfDone } from './complete-campaign';
import { enqueueBatchJobs } from './enqueue-batch-jobs';
import { AUDIENCE_STATS_COLUMNS, audienceStatKeys, segmentsPerMessageFor, type AudienceStats } from './estimate-audience';
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
  /** Short-link base (trackedLinksOf(config)), which the per-message bound counts each link at; the development one when absent. */
  links?: Pick<TrackedLinks, 'base'>;
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
 *
 * The audience may have grown since the enqueue reserved credits for it
 * (contacts who subscribed before a scheduled launch), and with longer
 * names than the enqueue sized its messages for (so may a renamed
 * contact's): each chunk's recipients are paid for in the chunk's own
 * transaction, at a per-message bound recomputed from the audience's stats
 * (see materialiseChunk), so a send is never charged beyond the reservation.
 */
export async function launchCampaign(
  deps: LaunchDeps,
  job: { campaignId: string; shopId: string; traceId: string },
): Promise<LaunchResult> {
  const now = deps.now();
  let ctx = await loadSendContext(deps.db, job.campaignId, job.shopId);
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
      if (!(err instanceof CampaignChanged || err instanceof CreditsTaken || err instanceof NamesGrew) || ++retries > MAX_CHUNK_RETRIES) throw err;
      // Read again: a PATCH of a scheduled campaign's audience may be what changed.
      const fresh = await loadSendContext(deps.db, job.campaignId, job.shopId);
      if (!fresh) return { outcome: 'ignored', status: 'missing' };
      ctx = fresh;
      k--;
      continue;
    }
    if (chunk.outcome !== 'chunk') return chunk;
    if (chunk.unpaid > 0) {
      deps.logger?.warn({ campaignId: ctx.campaignId, chunk: k, skipped: chunk.unpaid }, 'launch skipped recipients the credits do not cover (insufficient_credits)');
    }
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

/** The available credits a chunk counted on were taken before its top-up (another enqueue, a flow): the chunk is rolled back and read again. */
class CreditsTaken extends Error {}

/** A contact with a longer name joined the audience between the chunk's read of the stats and its insert: the chunk is rolled back and read again. */
class NamesGrew extends Error {}

/** A recipient's error_code when the launch could not pay for them: flows name the same condition `insufficient_credits`. */
const INSUFFICIENT_CREDITS_SKIP = 'insufficient_credits';

type ChunkResult =
  | Exclude<LaunchResult, { outcome: 'launched' }>
  | {
      outcome: 'chunk';
      /** Recipients this chunk inserted. */
      inserted: number;
      /** Of `inserted`, those recorded `skipped` (insufficient_credits): the credits did not cover them. */
      unpaid: number;
      /** Batches this chunk created. */
      batchNos: number[];
      /** No chunk is left: the audience is materialised. */
      done: boolean;
      /** The campaign's recipients and batches so far. */
      recipients: number;
      batches: number;
    };

interface LaunchRow extends Omit<AudienceStats, 'n'> {
  status: string;
  scheduled_at: Date | null;
  total_recipients: number;
  launch_cursor: string | null;
  launch_next_batch: number;
  materialising: boolean;
  /** What the campaign reserves per recipient so far (segments_per_message, at least 1). */
  per: number;
  /** amount − released of its active reservation (null: none): what covers its recipients. */
  held: bigint | null;
  /** The wallet's balance − reserved, read without its lock: what a top-up may take, re-checked by the top-up itself. */
  available: bigint | null;
  /** Recipients inserted by the chunks before. */
  materialised: number;
  /** An earlier chunk ran out of credits (the recipient at the cursor was skipped for it). */
  capped: boolean;
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
      // The credit figures are read in the same statement: the batch sum
      // walks this campaign's batches (~1 000 for 1 M recipients); the
      // cursor's recipient is found through the contact index alone (OFFSET
      // 0 keeps the planner from ANDing in the campaign index, which reads
      // every recipient of the campaign: 35 ms a chunk at 200 000, measured).
      // The audience's stats (one row per tag) give the longest names now.
      const statKeys = audienceStatKeys(ctx.audienceTags);
      const [row] = await tx.$queryRaw<LaunchRow[]>`
        SELECT c.status, c.scheduled_at, c.total_recipients, c.launch_cursor, c.launch_next_batch, c.materialising,
               GREATEST(1, COALESCE(c.segments_per_message, 1))::int AS per,
               r.amount - r.released AS held,
               (SELECT w.balance - w.reserved FROM credit_wallets w WHERE w.shop_id = c.shop_id) AS available,
               (SELECT COALESCE(sum(b.recipient_count), 0)::int FROM campaign_batches b WHERE b.campaign_id = c.id) AS materialised,
               EXISTS (SELECT 1 FROM (SELECT x.campaign_id, x.error_code FROM campaign_recipients x WHERE x.contact_id = c.launch_cursor OFFSET 0) x
                        WHERE x.campaign_id = c.id AND x.error_code = ${INSUFFICIENT_CREDITS_SKIP}) AS capped,
               st.first_len, st.last_len, st.first_unicode, st.last_unicode
          FROM campaigns c LEFT JOIN credit_reservations r ON r.campaign_id = c.id AND r.status = 'active'
         CROSS JOIN LATERAL (SELECT ${AUDIENCE_STATS_COLUMNS} FROM audience_stats WHERE shop_id = c.shop_id AND tag = ANY(${statKeys}::text[])) st
         WHERE c.id = ${ctx.campaignId}::uuid`;
      if (!row) return { outcome: 'ignored', status: 'missing' } as const;
      const starting = LAUNCHABLE.has(row.status);
      if (starting) {
        if (row.scheduled_at && row.scheduled_at.getTime() > now.getTime()) {
          return { outcome: 'deferred', until: row.scheduled_at, reason: 'scheduled' } as const;
        }
      } else if (row.status !== 'sending') {
        return { outcome: 'ignored', status: row.status } as const;
      } else if (!row.materialising) {
        return { outcome: 'chunk', inserted: 0, unpaid: 0, batchNos: [], done: true, recipients: row.total_recipients, batches: row.launch_next_batch } as const;
      }

      // Walk the audience index in contact id order from the cursor: each
      // chunk reads only its own contacts (a bitmap scan would read, and
      // sort, the whole rest of the audience every time).
      await tx.$executeRawUnsafe('SET LOCAL enable_bitmapscan = off');
      await tx.$executeRawUnsafe('SET LOCAL enable_seqscan = off');
      const after = row.launch_cursor === null ? empty : sql`AND a.id > ${row.launch_cursor}::uuid`;
      const first = row.launch_next_batch;
      // Contacts who joined or were renamed since the enqueue may need more
      // segments than it sized messages for: the bound from the stats now
      // covers every contact this chunk can read (a longer name committed
      // after this read is caught below), and the whole campaign is paid
      // for at it from here on.
      const per = Math.max(row.per, messageBound(ctx, row, deps));
      const payable = payableRecipients(row, per, size);
      // The first `payable` contacts (in id order) become pending; the rest
      // are recorded skipped at once, so the stats count them and say why,
      // and the cursor still walks the whole audience.
      const [ins] = await tx.$queryRaw<({ n: number; paid: number } & Omit<AudienceStats, 'n'>)[]>`
        WITH chunk AS (
          SELECT a.id FROM contacts a
           WHERE ${audienceWhere('a', ctx.shopId, ctx.audienceTags, ctx.audienceOrders)} ${after}
           ORDER BY a.id
           LIMIT ${size}::int
        ), numbered AS (
          SELECT id, row_number() OVER (ORDER BY id) - 1 AS i FROM chunk
        ), ins AS (
          INSERT INTO campaign_recipients (campaign_id, contact_id, batch_no, status, error_code, final_at)
          SELECT ${ctx.campaignId}::uuid, id, ${first}::int + (i / ${bs}::int)::int,
                 CASE WHEN i < ${payable}::int THEN 'pending' ELSE 'skipped' END,
                 CASE WHEN i < ${payable}::int THEN NULL ELSE ${INSUFFICIENT_CREDITS_SKIP} END,
                 CASE WHEN i < ${payable}::int THEN NULL ELSE ${now}::timestamptz END
            FROM numbered
          RETURNING status
        )
        -- The stats again, in this statement's snapshot, the one the chunk's
        -- contacts were read in: a longer name committed since the read above
        -- shows here.
        SELECT i.n, i.paid, st.first_len, st.last_len, st.first_unicode, st.last_unicode
          FROM (SELECT count(*)::int AS n, count(*) FILTER (WHERE status = 'pending')::int AS paid FROM ins) i,
               (SELECT ${AUDIENCE_STATS_COLUMNS} FROM audience_stats WHERE shop_id = ${ctx.shopId}::uuid AND tag = ANY(${statKeys}::text[])) st`;
      const inserted = ins?.n ?? 0;
      const paid = ins?.paid ?? 0;
      if (paid > 0 && ins && messageBound(ctx, ins, deps) > per) {
        throw new NamesGrew(`campaign ${ctx.campaignId}: a longer name joined the audience during a launch chunk`);
      }
      const nb = Math.ceil(inserted / bs);
      // Batch k of the chunk holds its rows k·size … k·size + size − 1: the
      // batches follow from the count, without reading the rows back. A
      // batch of skipped rows only is done from the start: no job for it.
      if (nb > 0) {
        await tx.$executeRaw`
          INSERT INTO campaign_batches (campaign_id, batch_no, recipient_count, status)
          SELECT ${ctx.campaignId}::uuid, ${first}::int + b, LEAST(${bs}::int, ${inserted}::int - b * ${bs}::int),
                 CASE WHEN b * ${bs}::int < ${paid}::int THEN 'pending' ELSE 'done' END
            FROM generate_series(0, ${nb - 1}::int) b
          ON CONFLICT (campaign_id, batch_no) DO NOTHING`;
      }
      const done = inserted < size;
      // Guarded by what was read: a campaign cancelled since rolls the chunk back.
      // The bound rises with the top-up below that pays for it (never
      // falls): a chunk that pays for nobody leaves it, and what covers
      // the recipients before, as they are.
      const [moved] = await tx.$queryRaw<{ total_recipients: number }[]>`
        UPDATE campaigns
           SET status = 'sending', started_at = COALESCE(started_at, ${now}), last_activity_at = ${now}, updated_at = ${now},
               launch_next_batch = ${first + nb}::int, materialising = ${!done},
               segments_per_message = CASE WHEN ${paid}::int > 0 THEN GREATEST(segments_per_message, ${per}::int) ELSE segments_per_message END,
               total_recipients = CASE WHEN ${done} THEN (SELECT COALESCE(sum(b.recipient_count), 0)::int FROM campaign_batches b WHERE b.campaign_id = ${ctx.campaignId}::uuid)
                                       ELSE total_recipients END
         WHERE id = ${ctx.campaignId}::uuid AND status = ${row.status} AND launch_next_batch = ${first}::int
           -- The audience and body this chunk read from and sized messages
           -- by, and the time it found due: a PATCH that committed since (a
           -- scheduled campaign may still be edited, or moved later) rolls
           -- the chunk back, and the launch reads the campaign again (a
           -- sending one cannot be edited).
           AND (status = 'sending' OR (audience = ${JSON.stringify(ctx.audience ?? {})}::jsonb AND body = ${ctx.body}
                                       AND scheduled_at IS NOT DISTINCT FROM ${row.scheduled_at}::timestamptz))
        RETURNING total_recipients`;
      if (!moved) throw new CampaignChanged(`campaign ${ctx.campaignId} changed during its launch`);
      // Last, after the campaign row: the order cancel and completion take
      // campaign, wallet, reservation in, and the wallet is then locked for
      // this statement and the COMMIT only. A chunk that skipped all its
      // rows adds nobody to pay for. Paid rows only follow paid rows (a
      // chunk after a capped one pays for none), so the recipients to cover
      // are all those inserted before plus this chunk's paid ones, all at
      // the bound just written (those before too, had it risen).
      if (paid > 0) await payForRecipients(tx, ctx, row.materialised + paid);
      return {
        outcome: 'chunk',
        inserted,
        unpaid: inserted - paid,
        batchNos: Array.from({ length: Math.ceil(paid / bs) }, (_, b) => first + b),
        done,
        recipients: moved.total_recipients,
        batches: first + nb,
      } as const;
    },
    { timeout: timeoutMs },
  );
}

/**
 * The per-message bound the audience's stats give now (segmentsPerMessageFor,
 * as the enqueue computed it, with the name and footer frozen then). Only a
 * campaign whose render was frozen at enqueue is bounded at all (see
 * SendContext.messageBound): for any other the bound stays as it was. A body
 * that does not parse sends nothing (render-batch: invalid_template).
 */
function messageBound(ctx: SendContext, stats: Omit<AudienceStats, 'n'>, deps: Pick<LaunchDeps, 'links'>): number {
  if (ctx.messageBound === null) return 1;
  const parsed = parseTemplate(ctx.body);
  if (!parsed.ok) return 1;
  return segmentsPerMessageFor(parsed.template, stats, { shopName: ctx.shopName, optOutFooter: ctx.optOutFooter, linkBase: (deps.links ?? DEV_TRACKED_LINKS).base });
}

/**
 * How many of the chunk's next `size` contacts it can pay for: all the
 * recipients, those inserted before included, at `per` credits each (the
 * campaign's bound, raised to what the audience now needs) as far as the
 * reservation and the available balance cover, less those before. None once a
 * chunk ran out: from the first contact the launch could not pay for, the
 * rest of the audience is skipped, even if credits are bought meanwhile
 * (a campaign goes to a prefix of its audience in contact order, not to
 * whoever was materialised after a purchase). No reservation (never
 * enqueued, as fixtures may make) covers nothing and cannot be topped up.
 */
function payableRecipients(row: LaunchRow, per: number, size: number): number {
  if (row.capped || row.held === null) return 0;
  const credits = Number(row.held) + Math.max(0, Number(row.available ?? 0));
  return Math.max(0, Math.min(size, Math.floor(credits / per) - row.materialised));
}

/**
 * Makes the campaign's active reservation cover `recipients` at the
 * campaign's per-recipient bound as this transaction left it
 * (amount − released ≥ recipients × per),
 * topping it up from the available balance, in one statement. Computed from
 * what the rows hold, not from what this chunk added, so a re-run of a
 * chunk that committed (a launch retried after a crash) finds it covered
 * and takes nothing twice; a chunk that rolls back takes its top-up with
 * it. The wallet row is locked only when there is something to take, and
 * the guard re-checks the balance under that lock, as reserveCredits does.
 * Credits released meanwhile (a frequency-capped recipient's share) are
 * re-taken: over-reserving by them is harmless, completion gives it back.
 * Throws CreditsTaken when the balance no longer covers what the chunk
 * counted on, so the chunk is read and cut again.
 */
async function payForRecipients(tx: Tx, ctx: SendContext, recipients: number): Promise<void> {
  const [r] = await tx.$queryRaw<{ needed: bigint | null; added: bigint | null }[]>`
    WITH r AS MATERIALIZED (
      SELECT cr.id, GREATEST(0, ${recipients}::bigint * GREATEST(1, COALESCE(c.segments_per_message, 1)) - (cr.amount - cr.released)) AS more
        FROM campaigns c JOIN credit_reservations cr ON cr.campaign_id = c.id AND cr.status = 'active'
       WHERE c.id = ${ctx.campaignId}::uuid
    ), held AS (
      UPDATE credit_wallets w SET reserved = w.reserved + r.more, updated_at = now()
        FROM r WHERE w.shop_id = ${ctx.shopId}::uuid AND r.more > 0 AND w.balance - w.reserved >= r.more
      RETURNING r.id, r.more
    ), grown AS (
      UPDATE credit_reservations cr SET amount = cr.amount + held.more, updated_at = now()
        FROM held WHERE cr.id = held.id
      RETURNING held.more
    )
    SELECT (SELECT more FROM r) AS needed, (SELECT more FROM grown) AS added`;
  const needed = r?.needed ?? null;
  if (needed === null || (needed > 0n && r?.added !== needed)) {
    throw new CreditsTaken(`campaign ${ctx.campaignId}: the credits its launch counted on are no longer available`);
  }
}
