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
  /** It was cancelled before this call, which changed nothing (the on-call's cancel reports it). */
  alreadyCancelled: boolean;
}

/**
 * Pending recipients the cancel itself marks `cancelled`, at most. The rest
 * are cancelled by their batch's send job (claim-batch.ts cancels an
 * unclaimed batch's pending rows of a cancelled campaign, under the batch
 * lock): a million rows in the cancel's one transaction took 3.2 s of a
 * quiet machine, so under a send's load it outlived its 5 s bound and the
 * merchant could not stop a large campaign.
 */
export const CANCEL_NOW_ROWS = 50_000;

/**
 * `draft|scheduled|queued|sending → cancelled` in one transaction: nothing
 * pending is sent from then on (a claim sends pending rows only while the
 * campaign is `sending`), up to `CANCEL_NOW_ROWS` pending recipients become
 * cancelled at once and the rest as their batches' jobs take them, and the
 * reservation is released at once except what in-flight recipients (of a
 * claimed batch, or left `sending`) may still consume. Cancelling a
 * cancelled campaign answers it as it is (the goal state already holds), so
 * a client retrying with a fresh key is not told off; a completed or failed
 * campaign is INVALID_STATE.
 */
export async function cancelCampaign(
  db: Db,
  c: { shopId: string; campaignId: string; guard: IdempotencyGuard; now: Date; cancelNowRows?: number },
): Promise<CancelResult> {
  return db.$transaction(async (tx) => {
    await c.guard.assertHeld(tx);
    const [row] = await tx.$queryRaw<CampaignRow[]>`
      UPDATE campaigns SET status = 'cancelled', cancelled_at = ${c.now}, last_activity_at = ${c.now}, updated_at = ${c.now}
       WHERE id = ${c.campaignId}::uuid AND shop_id = ${c.shopId}::uuid AND status IN ('draft', 'scheduled', 'queued', 'sending')
      RETURNING ${CAMPAIGN_COLUMNS}`;
    if (!row) {
      const current = await getCampaignRow(tx, c.shopId, c.campaignId);
      if (current.status === 'cancelled') return { campaign: toCampaignView(current), released: 0, kept: 0, alreadyCancelled: true };
      throw invalidState(current.status, 'cancel');
    }

    // Batches are claimed as a whole (claim-batch.ts): lock the open ones, so
    // a claim in progress commits first and a later one reads the rows after
    // this commits; then cancel pending rows of batches nobody holds, in
    // batch order up to the bound (their jobs cancel the rest). A claimed
    // batch's pending rows are in flight: its attempt, or the one that takes
    // it over, settles them.
    await tx.$queryRaw`
      SELECT 1 FROM campaign_batches WHERE campaign_id = ${c.campaignId}::uuid AND status = 'pending' ORDER BY batch_no FOR UPDATE`;
    await tx.$executeRaw`
      UPDATE campaign_recipients SET status = 'cancelled', final_at = ${c.now}
       WHERE id IN (
         SELECT r.id FROM campaign_batches b
           JOIN campaign_recipients r ON r.campaign_id = b.campaign_id AND r.batch_no = b.batch_no AND r.status = 'pending'
          WHERE b.campaign_id = ${c.campaignId}::uuid AND b.status = 'pending' AND b.claim_token IS NULL
          ORDER BY b.batch_no
          LIMIT ${c.cancelNowRows ?? CANCEL_NOW_ROWS}::int)`;
    // Recipients without a batch row (never written by a launch): cancelled as they are.
    await tx.$executeRaw`
      UPDATE campaign_recipients SET status = 'cancelled', final_at = ${c.now}
       WHERE campaign_id = ${c.campaignId}::uuid AND status = 'pending'
         AND NOT EXISTS (SELECT 1 FROM campaign_batches WHERE campaign_id = ${c.campaignId}::uuid)`;

    // The wallet lock first (the order a settle takes), then the reservation
    // and the in-flight count, read while no settle of this shop can move money.
    await tx.$queryRaw`SELECT 1 FROM credit_wallets WHERE shop_id = ${c.shopId}::uuid FOR UPDATE`;
    const reservation = await activeReservationForCampaign(tx, c.campaignId);
    if (!reservation) return { campaign: toCampaignView(row), released: 0, kept: 0, alreadyCancelled: false };
    // In flight: pending rows of claimed batches, and rows a settle left
    // `sending` (only ever in a batch claimed before: attempt > 0). An
    // unclaimed batch's pending rows are not: no claim sends them now. So
    // only the batches being or once sent are read, not the whole campaign.
    const [inflight] = await tx.$queryRaw<{ n: bigint }[]>`
      SELECT (SELECT count(*) FROM campaign_batches b JOIN campaign_recipients r ON r.campaign_id = b.campaign_id AND r.batch_no = b.batch_no
               WHERE b.campaign_id = ${c.campaignId}::uuid AND b.status = 'pending' AND (b.claim_token IS NOT NULL OR b.attempt > 0)
                 AND (r.status = 'sending' OR (r.status = 'pending' AND b.claim_token IS NOT NULL)))
           + (SELECT count(*) FROM campaign_recipients
               WHERE campaign_id = ${c.campaignId}::uuid AND status = 'sending'
                 AND NOT EXISTS (SELECT 1 FROM campaign_batches WHERE campaign_id = ${c.campaignId}::uuid)) AS n`;
    const outstanding = reservation.amount - reservation.consumed - reservation.released;
    const sending = Number(inflight?.n ?? 0);
    // Without a per-message bound (never expected once enqueued) keep it all rather than guess low.
    const kept = sending === 0 ? 0 : Math.min(outstanding, sending * (row.segments_per_message ?? outstanding));
    const released = kept === 0 ? await releaseReservation(tx, reservation.id) : await releasePartial(tx, reservation.id, outstanding - kept);
    return { campaign: toCampaignView(row), released, kept, alreadyCancelled: false };
  });
}
