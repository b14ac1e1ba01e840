import type { Logger } from 'pino';
import { type Sql, join, sql, type Db } from '../../lib/db';
import { AppError } from '../../lib/errors';
import type { Producer } from '../../queue/producer';
import type { IdempotencyGuard } from '../idempotency/guard';
import { publishOutboxRows, writeOutboxEvent, type OutboxRow } from '../outbox/outbox';
import type { UpdateCampaignInput } from './campaign-input';
import { CAMPAIGN_COLUMNS, toCampaignView, type CampaignRow, type CampaignView } from './campaign-view';
import { invalidState } from './invalid-state';
import { trackedLinksOfDeps } from '../links/link-code';
import { estimateAudience } from './estimate-audience';
import { getCampaignRow } from './get-campaign';
import { holdCampaignCredits } from './hold-campaign-credits';
import { loadSendContext } from './send-context';

/**
 * Edits a draft or scheduled campaign. A scheduled campaign already holds
 * credits and has a launch pending, so an edit keeps both true: a new body or
 * audience re-sizes its reservation (402 if the larger need is not covered,
 * and nothing changes), and a new time writes a launch event for that time
 * (the launch itself never starts before `scheduled_at`). A scheduled
 * campaign keeps a future time; to stop it, cancel it.
 */
export async function updateCampaign(
  deps: { db: Db; producer: Producer; logger?: Logger; config?: Parameters<typeof trackedLinksOfDeps>[0]['config'] },
  c: { shopId: string; campaignId: string; input: UpdateCampaignInput; guard: IdempotencyGuard; traceId: string; now: Date },
): Promise<CampaignView> {
  const { input } = c;
  const { view, outbox } = await deps.db.$transaction(async (tx) => {
    await c.guard.assertHeld(tx);
    const current = await getCampaignRow(tx, c.shopId, c.campaignId, { forUpdate: true });
    if (current.status !== 'draft' && current.status !== 'scheduled') throw invalidState(current.status, 'edit');
    const scheduled = current.status === 'scheduled';
    if (scheduled && input.scheduledAt !== undefined && (input.scheduledAt === null || input.scheduledAt.getTime() <= c.now.getTime())) {
      throw new AppError('VALIDATION_FAILED', 'A scheduled campaign needs a future scheduledAt; cancel it to stop it', {
        details: [{ path: 'scheduledAt', message: 'must be a future time while the campaign is scheduled' }],
      });
    }

    const sets: Sql[] = [sql`updated_at = ${c.now}`];
    if (input.name !== undefined) sets.push(sql`name = ${input.name}`);
    if (input.body !== undefined) sets.push(sql`body = ${input.body}`);
    if (input.audience !== undefined) sets.push(sql`audience = ${JSON.stringify(input.audience)}::jsonb`);
    if (input.scheduledAt !== undefined) sets.push(sql`scheduled_at = ${input.scheduledAt}`);
    if (input.ignoreSmartSending !== undefined) sets.push(sql`ignore_smart_sending = ${input.ignoreSmartSending}`);
    const [row] = await tx.$queryRaw<CampaignRow[]>`
      UPDATE campaigns SET ${join(sets, ', ')}
       WHERE id = ${c.campaignId}::uuid AND shop_id = ${c.shopId}::uuid AND status IN ('draft', 'scheduled')
      RETURNING ${CAMPAIGN_COLUMNS}`;
    if (!row) throw invalidState(current.status, 'edit');
    if (!scheduled) return { view: toCampaignView(row), outbox: null };

    let updated = row;
    if (input.body !== undefined || input.audience !== undefined) {
      const ctx = await loadSendContext(tx, c.campaignId, c.shopId);
      if (!ctx) throw new AppError('NOT_FOUND', 'Campaign not found');
      const estimate = await estimateAudience(tx, { shopId: c.shopId, body: ctx.body, tags: ctx.audienceTags, orders: ctx.audienceOrders, shopName: ctx.shopName, optOutFooter: ctx.optOutFooter, linkBase: trackedLinksOfDeps(deps).base });
      await holdCampaignCredits(tx, { shopId: c.shopId, campaignId: c.campaignId, credits: estimate.credits });
      const [resized] = await tx.$queryRaw<CampaignRow[]>`
        UPDATE campaigns SET segments_per_message = ${estimate.segmentsPerMessage}::int, total_recipients = ${estimate.recipients}::int
         WHERE id = ${c.campaignId}::uuid RETURNING ${CAMPAIGN_COLUMNS}`;
      updated = resized ?? row;
    }
    let outbox: OutboxRow | null = null;
    if (input.scheduledAt && input.scheduledAt.getTime() !== current.scheduled_at?.getTime()) {
      outbox = await writeOutboxEvent(tx, {
        type: 'campaign.launch.v1',
        aggregateId: c.campaignId,
        payload: { campaignId: c.campaignId, shopId: c.shopId },
        traceId: c.traceId,
        availableAt: input.scheduledAt,
      });
    }
    return { view: toCampaignView(updated), outbox };
  });

  if (outbox !== null) {
    try {
      await publishOutboxRows(deps.db, deps.producer, [outbox], c.now);
    } catch (err) {
      deps.logger?.warn({ err, campaignId: c.campaignId }, 'launch event not published after commit; the outbox dispatcher will retry');
    }
  }
  return view;
}
