import { raw, sql, type Db, type Sql } from '../../lib/db';
import { campaignHasOpenRowsSql } from '../campaigns/batch-rows';
import { releaseReservation } from '../credits/reservations';

/**
 * True once campaign `c` (an alias) will consume nothing more of its
 * reservation: completed, failed, or cancelled with nothing in flight. Final:
 * none of these states leads back to sending, and a cancelled campaign's
 * in-flight rows only close. A campaign queued, scheduled or sending, or
 * cancelled with recipients still pending or sending, may still consume it.
 */
export function campaignDoneWithReservationSql(c: string): Sql {
  const C = raw(`"${c.replace(/"/g, '')}"`);
  return sql`(${C}.status IN ('completed', 'failed') OR (${C}.status = 'cancelled' AND NOT ${campaignHasOpenRowsSql(sql`${C}.id`)}))`;
}

/**
 * Active reservations that nothing will consume any more: past their
 * expires_at, or belonging to a campaign that has ended (completed, cancelled
 * with nothing in flight, failed). Each is released in its own short
 * transaction; releaseReservation is idempotent, so a concurrent completion is
 * harmless. Returns how many were released.
 */
export async function releaseOrphanedReservations(db: Db, opts: { now: Date; limit: number }): Promise<number> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    SELECT r.id FROM credit_reservations r
      LEFT JOIN campaigns c ON c.id = r.campaign_id
     WHERE r.status = 'active'
       AND (r.expires_at < ${opts.now} OR ${campaignDoneWithReservationSql('c')})
     ORDER BY r.created_at
     LIMIT ${opts.limit}`;
  let released = 0;
  for (const row of rows) {
    await db.$transaction(async (tx) => {
      await releaseReservation(tx, row.id);
    });
    released++;
  }
  return released;
}
