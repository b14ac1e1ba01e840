import type { Logger } from 'pino';
import type { Db, Tx } from '../../lib/db';
import { AppError } from '../../lib/errors';
import type { Producer } from '../../queue/producer';
import type { IdempotencyGuard } from '../idempotency/guard';
import { fetchOutboxRows, publishOutboxRows, writeOutboxEvent } from '../outbox/outbox';
import { CAMPAIGN_COLUMNS, toCampaignView, type CampaignRow, type CampaignView } from './campaign-view';
import { estimateAudience } from './estimate-audience';
import { getCampaignRow } from './get-campaign';
import { holdCampaignCredits } from './hold-campaign-credits';
import { invalidState } from './invalid-state';
import { loadSendContext } from './send-context';

export interface EnqueueResult {
  campaign: CampaignView;
  recipients: number;
  creditsReserved: number;
}

const ENQUEUEABLE = ['draft', 'scheduled'];

/**
 * api.md "enqueue": one short transaction — fencing check of the request's
 * idempotency key, guarded status change, credit reservation, outbox event —
 * then the launch job is published after commit (or later by the outbox
 * dispatcher). Its cost is one aggregate over the audience, whatever its size:
 * recipients are materialised by the launch job, not here.
 */
export async function enqueueCampaign(
  deps: { db: Db; producer: Producer; logger?: Logger },
  c: { shopId: string; campaignId: string; guard: IdempotencyGuard; traceId: string; now: Date },
): Promise<EnqueueResult> {
  const { result, outboxId } = await deps.db.$transaction(async (tx) => {
    await c.guard.assertHeld(tx);
    // The row lock keeps a concurrent PATCH from changing the body or
    // audience between the estimate and the reservation.
    const current = await getCampaignRow(tx, c.shopId, c.campaignId, { forUpdate: true });
    if (!ENQUEUEABLE.includes(current.status)) throw invalidState(current.status, 'enqueue');
    const ctx = await loadSendContext(tx, c.campaignId, c.shopId);
    if (!ctx) throw new AppError('NOT_FOUND', 'Campaign not found');
    const estimate = await estimateAudience(tx, { shopId: c.shopId, body: ctx.body, tags: ctx.audienceTags, shopName: ctx.shopName, optOutFooter: ctx.optOutFooter });

    const scheduled = current.scheduled_at !== null && current.scheduled_at.getTime() > c.now.getTime();
    const campaign = await moveToQueued(tx, c, scheduled ? 'scheduled' : 'queued', estimate.segmentsPerMessage, estimate.recipients);
    await holdCampaignCredits(tx, { shopId: c.shopId, campaignId: c.campaignId, credits: estimate.credits });
    const id = await writeOutboxEvent(tx, {
      type: 'campaign.launch.v1',
      aggregateId: c.campaignId,
      payload: { campaignId: c.campaignId, shopId: c.shopId },
      traceId: c.traceId,
      availableAt: scheduled && current.scheduled_at ? current.scheduled_at : c.now,
    });
    return { result: { campaign: toCampaignView(campaign), recipients: estimate.recipients, creditsReserved: estimate.credits }, outboxId: id };
  });

  try {
    await publishOutboxRows(deps.db, deps.producer, await fetchOutboxRows(deps.db, [outboxId]), c.now);
  } catch (err) {
    // Committed is committed: the outbox dispatcher publishes it shortly.
    deps.logger?.warn({ err, campaignId: c.campaignId }, 'launch event not published after commit; the outbox dispatcher will retry');
  }
  return result;
}

async function moveToQueued(
  tx: Tx,
  c: { shopId: string; campaignId: string; traceId: string; now: Date },
  status: 'queued' | 'scheduled',
  segmentsPerMessage: number,
  recipients: number,
): Promise<CampaignRow> {
  const rows = await tx.$queryRaw<CampaignRow[]>`
    UPDATE campaigns
       SET status = ${status}, segments_per_message = ${segmentsPerMessage}::int, total_recipients = ${recipients}::int,
           trace_id = ${c.traceId}, last_activity_at = ${c.now}, updated_at = ${c.now}
     WHERE id = ${c.campaignId}::uuid AND shop_id = ${c.shopId}::uuid AND status IN ('draft', 'scheduled')
    RETURNING ${CAMPAIGN_COLUMNS}`;
  if (rows[0]) return rows[0];
  const now = await getCampaignRow(tx, c.shopId, c.campaignId);
  throw invalidState(now.status, 'enqueue');
}
