import type { Db } from '../../lib/db';
import { releasePartial } from '../credits/reservations';

/**
 * Gives back, from the campaign's active reservation, what `recipients`
 * skipped by the frequency cap (or by quiet hours that never open for them)
 * would have cost: the campaign's per-message bound (segments_per_message,
 * what enqueue reserved per recipient) each.
 * Run after the settle that recorded them `skipped`; only that settle
 * reports them, so they are released once. Should it not run (a crash in
 * between), the completion releases the rest of the reservation anyway.
 * Returns the credits released.
 */
export async function releaseCappedCredits(db: Db, c: { campaignId: string; shopId: string; recipients: number }): Promise<number> {
  if (c.recipients <= 0) return 0;
  return db.$transaction(async (tx) => {
    const [r] = await tx.$queryRaw<{ id: string; per: number | null }[]>`
      SELECT cr.id, c.segments_per_message AS per
        FROM credit_reservations cr JOIN campaigns c ON c.id = cr.campaign_id
       WHERE cr.campaign_id = ${c.campaignId}::uuid AND cr.shop_id = ${c.shopId}::uuid AND cr.status = 'active'`;
    if (!r) return 0;
    return releasePartial(tx, r.id, c.recipients * Math.max(1, r.per ?? 1));
  });
}
