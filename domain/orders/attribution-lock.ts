import type { Tx } from '../../lib/db';

/**
 * An order and a click of the same contact can commit at the same moment
 * (the orders/create job and the api's click flush), each in a transaction
 * that cannot see the other's row: neither would attribute the order. Both
 * take this transaction lock per contact before they look for the other, so
 * the second to get it runs its attribution statement after the first
 * committed (READ COMMITTED: a new snapshot per statement), and sees it.
 * Keys are taken in order (two flushes sharing contacts could otherwise
 * deadlock; Postgres would fail one, and it would be retried).
 */
export async function lockContactsForAttribution(tx: Tx, contactIds: string[]): Promise<void> {
  if (contactIds.length === 0) return;
  await tx.$queryRaw`
    SELECT pg_advisory_xact_lock(k) FROM (
      SELECT DISTINCT hashtextextended('attribution:' || id::text, 0) AS k FROM unnest(${contactIds}::uuid[]) id ORDER BY k
    ) keys`;
}
