import type { Tx } from '../../lib/db';
import { AppError, isAppError } from '../../lib/errors';
import { activeReservationForCampaign, releasePartial, reserveCredits } from '../credits/reservations';
import { topUpReservation } from '../credits/top-up-reservation';

export const campaignReservationKey = (campaignId: string): string => `campaign-${campaignId}`;

/**
 * Makes the campaign's reservation hold exactly `credits` not yet consumed or
 * released: a first enqueue reserves; re-enqueuing or editing a scheduled
 * campaign (its one reservation is still active, nothing consumed yet) tops it
 * up or releases the excess. INSUFFICIENT_CREDITS reports the whole need
 * against everything that could cover it, as a first reservation would.
 */
export async function holdCampaignCredits(tx: Tx, c: { shopId: string; campaignId: string; credits: number }): Promise<void> {
  const active = await activeReservationForCampaign(tx, c.campaignId);
  if (!active) {
    await reserveCredits(tx, { shopId: c.shopId, campaignId: c.campaignId, reservationKey: campaignReservationKey(c.campaignId), amount: c.credits });
    return;
  }
  const outstanding = active.amount - active.consumed - active.released;
  if (c.credits < outstanding) {
    await releasePartial(tx, active.id, outstanding - c.credits);
  } else if (c.credits > outstanding) {
    try {
      await topUpReservation(tx, { shopId: c.shopId, reservationId: active.id, amount: c.credits - outstanding });
    } catch (err) {
      if (!isAppError(err) || err.code !== 'INSUFFICIENT_CREDITS') throw err;
      const available = Number((err.details as { available?: number } | undefined)?.available ?? 0);
      throw new AppError('INSUFFICIENT_CREDITS', 'Not enough credits', { details: { needed: c.credits, available: available + outstanding } });
    }
  }
}
