import type { Logger } from 'pino';
import type { Db } from '../../lib/db';
import { AppError } from '../../lib/errors';
import { scrubText } from '../../lib/logger';
import { cancelCampaign } from '../campaigns/cancel-campaign';
import type { CampaignStatus } from '../campaigns/send-context';
import { UNGUARDED } from '../idempotency/guard';

// The on-call's stop for a runaway campaign (`npm run ops -- campaign:cancel`,
// POST /internal/campaigns/:id/cancel): the on-call holds no session of the
// shop, so the merchant's Cancel is not theirs to press. It is that cancel
// (cancel-campaign.ts): the same transaction, state guards and release.

export interface CancelByHandResult {
  id: string;
  shopId: string;
  /** `already_cancelled`: cancelled before this call, which changed nothing. */
  outcome: 'cancelled' | 'already_cancelled';
  status: CampaignStatus;
  /** Credits given back by this call. */
  released: number;
  /** Credits still held for recipients in flight; completion releases what they do not use. */
  kept: number;
}

/**
 * Cancels a campaign of any shop. No Idempotency-Key: the goal state is the
 * guard (a second call finds it cancelled and changes nothing), and each
 * signed request is usable once. NOT_FOUND for an unknown campaign;
 * INVALID_STATE (details: status) for a completed or failed one. Who asked
 * and why is logged with what the cancel did: the ops CLI's record of a
 * by-hand action, like the reservation release's.
 */
export async function cancelCampaignByHand(
  db: Db,
  o: { campaignId: string; reason: string; operator?: string; now: Date; logger: Logger },
): Promise<CancelByHandResult> {
  // The one read across shops: the cancel itself is scoped to the campaign's own shop.
  const [owner] = await db.$queryRaw<{ shop_id: string }[]>`SELECT shop_id FROM campaigns WHERE id = ${o.campaignId}::uuid`;
  if (!owner) throw new AppError('NOT_FOUND', 'Campaign not found');
  const r = await cancelCampaign(db, { shopId: owner.shop_id, campaignId: o.campaignId, guard: UNGUARDED, now: o.now });
  const result: CancelByHandResult = {
    id: o.campaignId,
    shopId: owner.shop_id,
    outcome: r.alreadyCancelled ? 'already_cancelled' : 'cancelled',
    status: r.campaign.status,
    released: r.released,
    kept: r.kept,
  };
  // The reason is the operator's free text: a phone number typed into it is masked like any message's.
  o.logger.warn(
    { campaignId: o.campaignId, shopId: owner.shop_id, operator: o.operator ?? null, reason: scrubText(o.reason), outcome: result.outcome, released: result.released, kept: result.kept },
    'campaign cancelled by hand',
  );
  return result;
}
