import { sql, type Db, type DbOrTx } from '../../lib/db';
import { campaignHasOpenRowsSql } from './batch-rows';
import { activeReservationForCampaign, releaseReservation } from '../credits/reservations';
import { writeOutboxEvent } from '../outbox/outbox';

export interface CompletionResult {
  /** True only for the one call that moved the campaign sending → completed. */
  completed: boolean;
  /** Credits given back by closing the reservation (0 when it was already closed). */
  released: number;
}

const NOTHING: CompletionResult = { completed: false, released: 0 };

/**
 * Ends a campaign once no recipient is pending or sending: sending → completed,
 * the rest of its reservation released, `campaign.completed.v1` written, in
 * one transaction. A cancelled (or failed) campaign keeps its status but its
 * reservation is closed the same way. Safe to call any number of times, from
 * any number of processes: exactly one call completes it.
 */
export async function completeCampaignIfDone(
  db: Db,
  c: { campaignId: string; now: Date; traceId?: string },
): Promise<CompletionResult> {
  // Cheap pre-check without locks: most callers (every settled batch) stop
  // here while the campaign still has open recipients.
  if (await hasOpenRecipients(db, c.campaignId)) return NOTHING;

  return db.$transaction(async (tx) => {
    // Locking the campaign first serialises with a launch still materialising
    // recipients; the statements below then see everything it committed.
    const [campaign] = await tx.$queryRaw<{ status: string; shop_id: string; trace_id: string | null; materialising: boolean }[]>`
      SELECT status, shop_id, trace_id, materialising FROM campaigns WHERE id = ${c.campaignId}::uuid FOR UPDATE`;
    if (!campaign || !['sending', 'cancelled', 'failed'].includes(campaign.status)) return NOTHING;
    // Its launch has chunks still to insert: the batches done so far are not
    // the campaign (the launch completes it after its last chunk; a CHECK
    // refuses `completed` meanwhile).
    if (campaign.status === 'sending' && campaign.materialising) return NOTHING;
    if (await hasOpenRecipients(tx, c.campaignId)) return NOTHING;

    let completed = false;
    if (campaign.status === 'sending') {
      const moved = await tx.$executeRaw`
        UPDATE campaigns SET status = 'completed', completed_at = ${c.now}, last_activity_at = ${c.now}, updated_at = ${c.now}
         WHERE id = ${c.campaignId}::uuid AND status = 'sending'`;
      completed = moved === 1;
    }
    // Wallet before reservation, the order every credit path locks them in.
    await tx.$queryRaw`SELECT 1 FROM credit_wallets WHERE shop_id = ${campaign.shop_id}::uuid FOR UPDATE`;
    const reservation = await activeReservationForCampaign(tx, c.campaignId);
    const released = reservation ? await releaseReservation(tx, reservation.id) : 0;
    if (completed) {
      await writeOutboxEvent(tx, {
        type: 'campaign.completed.v1',
        aggregateId: c.campaignId,
        payload: { campaignId: c.campaignId, shopId: campaign.shop_id },
        traceId: c.traceId ?? campaign.trace_id ?? undefined,
      });
    }
    return { completed, released };
  });
}

async function hasOpenRecipients(db: DbOrTx, campaignId: string): Promise<boolean> {
  const [row] = await db.$queryRaw<{ open: boolean }[]>`SELECT ${campaignHasOpenRowsSql(sql`${campaignId}::uuid`)} AS open`;
  return row?.open === true;
}
