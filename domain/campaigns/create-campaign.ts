import type { Db } from '../../lib/db';
import type { IdempotencyGuard } from '../idempotency/guard';
import type { CreateCampaignInput } from './campaign-input';
import { CAMPAIGN_COLUMNS, toCampaignView, type CampaignRow, type CampaignView } from './campaign-view';

/** A new campaign, always in `draft`: scheduling happens at enqueue. */
export async function createCampaign(db: Db, c: { shopId: string; input: CreateCampaignInput; guard: IdempotencyGuard }): Promise<CampaignView> {
  return db.$transaction(async (tx) => {
    await c.guard.assertHeld(tx);
    const [row] = await tx.$queryRaw<CampaignRow[]>`
      INSERT INTO campaigns (shop_id, name, body, audience, scheduled_at, ignore_smart_sending)
      VALUES (${c.shopId}::uuid, ${c.input.name}, ${c.input.body}, ${JSON.stringify(c.input.audience ?? {})}::jsonb, ${c.input.scheduledAt ?? null},
              ${c.input.ignoreSmartSending ?? false})
      RETURNING ${CAMPAIGN_COLUMNS}`;
    return toCampaignView(row as CampaignRow);
  });
}
