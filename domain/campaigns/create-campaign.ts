import type { Db } from '../../lib/db';
import type { IdempotencyGuard, JsonResponse } from '../idempotency/guard';
import type { CreateCampaignInput } from './campaign-input';
import { CAMPAIGN_COLUMNS, toCampaignView, type CampaignRow, type CampaignView } from './campaign-view';

export interface CreatedCampaign {
  campaign: CampaignView;
  /** The response to send, exactly: with a key, the one committed with the campaign for replays. */
  response: JsonResponse & { location: string };
}

/**
 * A new campaign, always in `draft`: scheduling happens at enqueue. With an
 * Idempotency-Key the response is stored in the campaign's own transaction:
 * a create whose acknowledgement was never recorded would be executed again
 * by the retry of that very request, making a second campaign.
 */
export async function createCampaign(
  db: Db,
  c: { shopId: string; input: CreateCampaignInput; guard: IdempotencyGuard; responseStatus: number; locationOf: (id: string) => string },
): Promise<CreatedCampaign> {
  const created = await db.$transaction(async (tx) => {
    await c.guard.assertHeld(tx);
    const [row] = await tx.$queryRaw<CampaignRow[]>`
      INSERT INTO campaigns (shop_id, name, body, audience, scheduled_at, ignore_smart_sending)
      VALUES (${c.shopId}::uuid, ${c.input.name}, ${c.input.body}, ${JSON.stringify(c.input.audience ?? {})}::jsonb, ${c.input.scheduledAt ?? null},
              ${c.input.ignoreSmartSending ?? false})
      RETURNING ${CAMPAIGN_COLUMNS}`;
    const campaign = toCampaignView(row as CampaignRow);
    const response = { status: c.responseStatus, body: JSON.stringify(campaign), location: c.locationOf(campaign.id) };
    await c.guard.storeInTx(tx, response);
    return { campaign, response };
  });
  c.guard.stored(created.response);
  return created;
}
