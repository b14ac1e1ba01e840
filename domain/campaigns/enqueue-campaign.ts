import type { Logger } from 'pino';
import { raw, type Db, type Tx } from '../../lib/db';
import { AppError } from '../../lib/errors';
import { isUniqueViolation, pgConstraint, pgErrorCode, PG } from '../../lib/pg-errors';
import type { Producer } from '../../queue/producer';
import { takenOver, type IdempotencyGuard } from '../idempotency/guard';
import { trackedLinksOfDeps } from '../links/link-code';
import { publishCommitted, writeOutboxEvent, type OutboxRow } from '../outbox/outbox';
import { CAMPAIGN_COLUMNS, toCampaignView, type CampaignRow, type CampaignView } from './campaign-view';
import { estimateAudience, estimateFromStats, type AudienceEstimate } from './estimate-audience';
import { getCampaignRow } from './get-campaign';
import { campaignReservationKey, holdCampaignCredits } from './hold-campaign-credits';
import { invalidState } from './invalid-state';
import { readEnqueueContext, type EnqueueContext } from './read-enqueue-context';
import { loadSendContext, type SendContext } from './send-context';

export interface EnqueueResult {
  campaign: CampaignView;
  recipients: number;
  creditsReserved: number;
}

export interface EnqueueOutcome {
  result: EnqueueResult;
  /**
   * The response body to send, byte for byte: when the request's key was
   * completed by the enqueue statement itself, this is what it stored.
   */
  responseBody: string;
}

interface EnqueueInput {
  shopId: string;
  campaignId: string;
  guard: IdempotencyGuard;
  traceId: string;
  now: Date;
  /** The HTTP status the caller answers with: a draft's statement stores it with the outcome. */
  responseStatus: number;
}

type Deps = { db: Db; producer: Producer; logger?: Logger; config?: Parameters<typeof trackedLinksOfDeps>[0]['config'] };

const ENQUEUEABLE = ['draft', 'scheduled'];
/** A draft edited between our read and our write is read again, a bounded number of times. */
const ATTEMPTS = 3;

/**
 * api.md "enqueue": fencing check of the request's idempotency key, guarded
 * status change, outbox event and credit reservation commit together, then
 * the launch job is published after commit (or later by the outbox
 * dispatcher). Its cost is one aggregate over the audience's stats, whatever
 * its size: recipients are materialised by the launch job, not here.
 *
 * The reservation locks the shop's wallet row, which every enqueue and every
 * send of the shop needs. Held across client round trips (BEGIN … COMMIT from
 * a busy event loop) it capped one shop at ~250 enqueues/s with seconds of
 * queueing; so a draft — the usual case — is enqueued by ONE statement in
 * autocommit: its reads are done first without locks, and the statement
 * re-checks what they saw (status, body, audience, schedule), so the lock is
 * held for that statement's execution and commit only. A scheduled campaign
 * (its reservation already exists and is topped up or trimmed) takes the
 * transactional path.
 */
export async function enqueueCampaign(deps: Deps, c: EnqueueInput): Promise<EnqueueOutcome> {
  for (let attempt = 1; ; attempt++) {
    const read = await readEnqueueContext(deps.db, c.campaignId, c.shopId);
    if (!read) throw new AppError('NOT_FOUND', 'Campaign not found');
    // An api process may still take the shop for installed (its memory of the
    // status, or a request already past session auth): app/uninstalled
    // cancelled the campaigns that existed then, so one created since must
    // not start. Read after the uninstall committed, the status says so; a
    // read before it means the campaign existed for the uninstall to cancel.
    if (read.shopStatus !== 'active') {
      throw new AppError('INVALID_STATE', 'The app is not installed for this shop', { details: { status: read.shopStatus } });
    }
    const { ctx } = read;
    if (!ENQUEUEABLE.includes(ctx.status)) throw invalidState(ctx.status, 'enqueue');
    if (ctx.status !== 'draft') return enqueueInTransaction(deps, c);
    const input = { shopId: c.shopId, body: ctx.body, tags: ctx.audienceTags, orders: ctx.audienceOrders, shopName: ctx.shopName, optOutFooter: ctx.optOutFooter, linkBase: trackedLinksOfDeps(deps).base };
    const estimate = read.stats ? await estimateFromStats(deps.db, read.stats, input) : await estimateAudience(deps.db, input);
    const done = await enqueueDraftInOneStatement(deps, c, read, estimate);
    if (done === 'has_reservation') return enqueueInTransaction(deps, c);
    if (done) {
      await publishAfterCommit(deps, c, done.outbox);
      return done.outcome;
    }
    // The draft changed under us (edited, cancelled, enqueued by another key): read it again.
    if (attempt >= ATTEMPTS) throw new AppError('REQUEST_IN_PROGRESS', 'The campaign is being changed; retry shortly', { headers: { 'Retry-After': '1' } });
  }
}

interface StatementRow extends CampaignRow {
  held: boolean;
  wallet: boolean;
  stored: boolean;
  outbox_id: bigint | null;
}

/**
 * The response is known before the statement runs (the row as read, after
 * its status change; the guards below make sure it is that row that
 * changes), so the statement stores it with the request's key: the outcome
 * and its replay commit together, and no statement of the request's own
 * follows to store it.
 */
async function enqueueDraftInOneStatement(
  deps: Deps,
  c: EnqueueInput,
  read: EnqueueContext,
  estimate: AudienceEstimate,
): Promise<{ outcome: EnqueueOutcome; outbox: OutboxRow } | 'has_reservation' | null> {
  const { ctx } = read;
  const scheduled = ctx.scheduledAt !== null && ctx.scheduledAt.getTime() > c.now.getTime();
  const status = scheduled ? 'scheduled' : 'queued';
  const availableAt = scheduled && ctx.scheduledAt ? ctx.scheduledAt : c.now;
  const payload = { campaignId: c.campaignId, shopId: c.shopId };
  const result: EnqueueResult = {
    campaign: toCampaignView({ ...read.row, status, segments_per_message: estimate.segmentsPerMessage, updated_at: c.now }),
    recipients: estimate.recipients,
    creditsReserved: estimate.credits,
  };
  const response = { status: c.responseStatus, body: JSON.stringify(result) };
  let rows: StatementRow[];
  try {
    // Every write hangs off `moved` (and `moved` off `held`), so either all of
    // them happen or none; a reservation the balance cannot cover breaks the
    // wallet's CHECK (reserved <= balance) and takes the whole statement back.
    rows = await deps.db.$queryRaw<StatementRow[]>`
      WITH held AS (${c.guard.heldSql()}),
      moved AS (
        UPDATE campaigns
           SET status = ${status}, segments_per_message = ${estimate.segmentsPerMessage}::int, total_recipients = ${estimate.recipients}::int,
               shop_name_at_enqueue = ${ctx.shopName}, opt_out_footer_at_enqueue = ${ctx.optOutFooter}::boolean,
               trace_id = ${c.traceId}, last_activity_at = ${c.now}, updated_at = ${c.now}
         WHERE id = ${c.campaignId}::uuid AND shop_id = ${c.shopId}::uuid AND status = 'draft'
           AND name = ${read.row.name} AND body = ${ctx.body} AND audience = ${JSON.stringify(ctx.audience)}::jsonb
           AND scheduled_at IS NOT DISTINCT FROM ${ctx.scheduledAt}::timestamptz
           AND ignore_smart_sending = ${read.row.ignore_smart_sending ?? false}::boolean
           AND EXISTS (SELECT 1 FROM held)
           AND EXISTS (SELECT 1 FROM credit_wallets WHERE shop_id = ${c.shopId}::uuid)
        RETURNING ${CAMPAIGN_COLUMNS}
      ),
      event AS (
        INSERT INTO outbox_events (event_type, aggregate_id, payload, trace_id, available_at)
        SELECT 'campaign.launch.v1', ${c.campaignId}, ${JSON.stringify(payload)}::jsonb, ${c.traceId}, ${availableAt}::timestamptz FROM moved
        RETURNING id
      ),
      wallet AS (
        UPDATE credit_wallets w SET reserved = w.reserved + ${estimate.credits}::bigint, updated_at = now()
          FROM moved WHERE w.shop_id = moved.shop_id
        RETURNING w.shop_id
      ),
      reservation AS (
        INSERT INTO credit_reservations (shop_id, campaign_id, reservation_key, amount)
        SELECT shop_id, ${c.campaignId}::uuid, ${campaignReservationKey(c.campaignId)}, ${estimate.credits}::bigint FROM wallet
        RETURNING id
      ),
      stored AS (${c.guard.storeSql(response, raw('moved'))})
      SELECT EXISTS (SELECT 1 FROM held) AS held,
             EXISTS (SELECT 1 FROM credit_wallets WHERE shop_id = ${c.shopId}::uuid) AS wallet,
             EXISTS (SELECT 1 FROM stored) AS stored,
             (SELECT id FROM event) AS outbox_id, moved.*
        FROM (SELECT 1) one LEFT JOIN moved ON true`;
  } catch (err) {
    if (pgErrorCode(err) === PG.checkViolation && pgConstraint(err) === 'credit_wallets_reserved_le_balance_check') {
      throw insufficient(estimate.credits, await availableCredits(deps.db, c.shopId));
    }
    // One active reservation per campaign: a draft that somehow holds one is resized instead.
    if (isUniqueViolation(err)) return 'has_reservation';
    throw err;
  }
  const row = rows[0];
  if (!row?.held) throw takenOver();
  if (!row.wallet) throw insufficient(estimate.credits, 0);
  if (row.outbox_id === null) return null;
  const { held: _held, wallet: _wallet, stored, outbox_id: outboxId, ...campaign } = row;
  if (stored) c.guard.stored(response);
  if (JSON.stringify(toCampaignView(campaign)) !== JSON.stringify(result.campaign)) {
    // Cannot happen while the guards above cover every field of the view; if it did, replays would repeat what was answered.
    deps.logger?.error({ campaignId: c.campaignId }, 'enqueue response differs from the campaign row written');
  }
  return {
    outcome: { result, responseBody: response.body },
    outbox: { id: outboxId, event_type: 'campaign.launch.v1', aggregate_id: c.campaignId, payload, trace_id: c.traceId, available_at: availableAt },
  };
}

/** A campaign that already holds a reservation (scheduled): it is resized inside one transaction. */
async function enqueueInTransaction(deps: Deps, c: EnqueueInput): Promise<EnqueueOutcome> {
  const { result, outbox } = await deps.db.$transaction(async (tx) => {
    await c.guard.assertHeld(tx);
    // The row lock keeps a concurrent PATCH from changing the body or
    // audience between the estimate and the reservation.
    const ctx = await loadSendContext(tx, c.campaignId, c.shopId, { forUpdate: true });
    if (!ctx) throw new AppError('NOT_FOUND', 'Campaign not found');
    if (!ENQUEUEABLE.includes(ctx.status)) throw invalidState(ctx.status, 'enqueue');
    const estimate = await estimateAudience(tx, { shopId: c.shopId, body: ctx.body, tags: ctx.audienceTags, orders: ctx.audienceOrders, shopName: ctx.shopName, optOutFooter: ctx.optOutFooter, linkBase: trackedLinksOfDeps(deps).base });

    const scheduled = ctx.scheduledAt !== null && ctx.scheduledAt.getTime() > c.now.getTime();
    const campaign = await moveToQueued(tx, c, scheduled ? 'scheduled' : 'queued', estimate.segmentsPerMessage, estimate.recipients, ctx);
    const event = await writeOutboxEvent(tx, {
      type: 'campaign.launch.v1',
      aggregateId: c.campaignId,
      payload: { campaignId: c.campaignId, shopId: c.shopId },
      traceId: c.traceId,
      availableAt: scheduled && ctx.scheduledAt ? ctx.scheduledAt : c.now,
    });
    // Last: from here to COMMIT the shop's wallet row is locked.
    await holdCampaignCredits(tx, { shopId: c.shopId, campaignId: c.campaignId, credits: estimate.credits });
    return { result: { campaign: toCampaignView(campaign), recipients: estimate.recipients, creditsReserved: estimate.credits }, outbox: event };
  });
  await publishAfterCommit(deps, c, outbox);
  return { result, responseBody: JSON.stringify(result) };
}

async function publishAfterCommit(deps: Deps, c: EnqueueInput, outbox: OutboxRow): Promise<void> {
  await publishCommitted(deps.db, deps.producer, [outbox], {
    now: c.now,
    onError: (err) => deps.logger?.warn({ err, campaignId: c.campaignId }, 'launch event not published after commit; the outbox dispatcher will retry'),
  });
}

function insufficient(needed: number, available: number): AppError {
  return new AppError('INSUFFICIENT_CREDITS', 'Not enough credits', { details: { needed, available } });
}

async function availableCredits(db: Db, shopId: string): Promise<number> {
  const [w] = await db.$queryRaw<{ available: bigint }[]>`SELECT balance - reserved AS available FROM credit_wallets WHERE shop_id = ${shopId}::uuid`;
  return Number(w?.available ?? 0);
}

async function moveToQueued(
  tx: Tx,
  c: { shopId: string; campaignId: string; traceId: string; now: Date },
  status: 'queued' | 'scheduled',
  segmentsPerMessage: number,
  recipients: number,
  render: Pick<SendContext, 'shopName' | 'optOutFooter'>,
): Promise<CampaignRow> {
  const rows = await tx.$queryRaw<CampaignRow[]>`
    UPDATE campaigns
       SET status = ${status}, segments_per_message = ${segmentsPerMessage}::int, total_recipients = ${recipients}::int,
           shop_name_at_enqueue = ${render.shopName}, opt_out_footer_at_enqueue = ${render.optOutFooter}::boolean,
           trace_id = ${c.traceId}, last_activity_at = ${c.now}, updated_at = ${c.now}
     WHERE id = ${c.campaignId}::uuid AND shop_id = ${c.shopId}::uuid AND status IN ('draft', 'scheduled')
    RETURNING ${CAMPAIGN_COLUMNS}`;
  if (rows[0]) return rows[0];
  const now = await getCampaignRow(tx, c.shopId, c.campaignId);
  throw invalidState(now.status, 'enqueue');
}
