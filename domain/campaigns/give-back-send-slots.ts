import type { Db } from '../../lib/db';

/**
 * A message that took its contact's send slot (claim-batch.ts) and then
 * certainly did not go out (failed, or skipped by an opt-out found after the
 * claim) gives the slot back: `last_at` returns to what it was before, so
 * the contact is not held back by a text they never received. Only slots
 * this campaign still holds are touched (another campaign may have taken one
 * since). Locked in contact id order, like the claim, so the two never wait
 * on each other in a cycle. Losing this write (a crash) is harmless: the
 * contact is merely left out of other campaigns until the window passes.
 */
export async function giveBackSendSlots(db: Db, c: { campaignId: string; contactIds: string[] }): Promise<number> {
  if (c.contactIds.length === 0) return 0;
  return db.$executeRaw`
    WITH mine AS (
      SELECT contact_id FROM contact_send_slots
       WHERE contact_id = ANY(${c.contactIds}::uuid[]) AND campaign_id = ${c.campaignId}::uuid
       ORDER BY contact_id FOR UPDATE
    )
    UPDATE contact_send_slots s SET last_at = s.prev_at, prev_at = NULL, campaign_id = NULL
      FROM mine WHERE s.contact_id = mine.contact_id`;
}
