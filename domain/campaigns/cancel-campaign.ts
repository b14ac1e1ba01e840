import type { Db } from '../../lib/db';
import { activeReservationForCampaign, releasePartial, releaseReservation } from '../credits/reservations';
import type { IdempotencyGuard } from '../idempotency/guard';
import { CAMPAIGN_COLUMNS, toCampaignView, type CampaignRow, type CampaignView } from './campaign-view';
import { invalidState } from './invalid-state';
import { getCampaignRow } from './get-campaign';

export interface CancelResult {
  campaign: CampaignView;
  /** Credits given back now. */
  released: number;
  /** Credits still held for recipients in flight; completion releases what they do not use. */
  kept: number;
}

/**
 * `draft|scheduled|queued|sending → cancelled` in one transaction: pending
 * recipients become cancelled, and the reservation is released at once except
 * what in-flight (`sending`) recipients may still consume. Cancelling a
 * cancelled campaign answers it as it is (the goal state already holds), so
 * a client retrying with a fresh key is not told off; a completed or failed
 * campaign is INVALID_STATE.
 */
export async function cancelCampaign(db: Db, c: { shopId: string; campaignId: string; guard: IdempotencyGuard; now: Date }): Promise<CancelResult> {
  return db.$transaction(async (tx) => {
    await c.guard.assertHeld(tx);
    const [row] = await tx.$queryRaw<CampaignRow[]>`
      UPDATE campaigns SET status = 'cancelled', cancelled_at = ${c.now}, last_activity_at = ${c.now}, updated_at = ${c.now}
       WHERE id = ${c.campaignId}::uuid AND shop_id = ${c.shopId}::uuid AND status IN ('draft', 'scheduled', 'queued', 'sending')
      RETURNING ${CAMPAIGN_COLUMNS}`;
    if (!row) {
      const current = await getCampaignRow(tx, c.shopId, c.campaignId);
      if (current.status === 'cancelled') return { campaign: toCampaignView(current), released: 0, kept: 0 };
      throw invalidState(current.status, 'cancel');
    }

    // A send-batch claim waits on these row locks and then finds nothing pending.
    await tx.$executeRaw`
      UPDATE campaign_recipients SET status = 'cancelled', final_at = ${c.now}
       WHERE campaign_id = ${c.campaignId}::uuid AND status = 'pending'`;

    // The wallet lock first (the order a settle takes), then the reservation
    // and the in-flight count, read while no settle of this shop can move money.
    await tx.$queryRaw`SELECT 1 FROM credit_wallets WHERE shop_id = ${c.shopId}::uuid FOR UPDATE`;
    const reservation = await activeReservationForCampaign(tx, c.campaignId);
    if (!reservation) return { campaign: toCampaignView(row), released: 0, kept: 0 };
    const [inflight] = await tx.$queryRaw<{ n: bigint }[]>`
      SELECT count(*) AS n FROM campaign_recipients WHERE campaign_id = ${c.campaignId}::uuid AND status = 'sending'`;
    const outstanding = reservation.amount - reservation.consumed - reservation.released;
    const sending = Number(inflight?.n ?? 0);
    // Without a per-message bound (never expected once enqueued) keep it all rather than guess low.
    const kept = sending === 0 ? 0 : Math.min(outstanding, sending * (row.segments_per_message ?? outstanding));
    const released = kept === 0 ? await releaseReservation(tx, reservation.id) : await releasePartial(tx, reservation.id, outstanding - kept);
    return { campaign: toCampaignView(row), released, kept };
  });
}
