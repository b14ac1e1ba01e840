import type { Db } from '../../lib/db';
import type { IdempotencyGuard } from '../idempotency/guard';
import { getCampaignRow } from './get-campaign';
import { invalidState } from './invalid-state';

/**
 * DELETE /api/campaigns/:id: a draft goes, row and all (it never held credits,
 * recipients, batches or links; whatever references a campaign cascades). The
 * status is checked by the DELETE itself, so a draft enqueued or scheduled a
 * moment earlier is never deleted under it: that, or any other status, is
 * 409 INVALID_STATE naming it. An unknown id, another shop's campaign, or a
 * draft already deleted is 404 (a replay with the same Idempotency-Key gets
 * the stored 204 instead).
 */
export async function deleteDraftCampaign(db: Db, c: { shopId: string; campaignId: string; guard: IdempotencyGuard }): Promise<void> {
  await db.$transaction(async (tx) => {
    await c.guard.assertHeld(tx);
    const deleted = await tx.$executeRaw`
      DELETE FROM campaigns WHERE id = ${c.campaignId}::uuid AND shop_id = ${c.shopId}::uuid AND status = 'draft'`;
    if (deleted > 0) return;
    // Throws NOT_FOUND when there is no such campaign of this shop.
    const current = await getCampaignRow(tx, c.shopId, c.campaignId);
    throw invalidState(current.status, 'delete');
  });
}
