import type { Tx } from '../../lib/db';

/**
 * Transaction locks per shop and kind are taken on one of this many buckets
 * of the value, not on the value itself. Postgres's lock table is shared by
 * every shop (max_locks_per_transaction × connections): a contact import's
 * or a sync's chunk of a thousand customers or numbers would otherwise hold
 * a thousand locks at once, and a few of them together could run it out for
 * everyone. Two values in one bucket wait for each other's short
 * transaction, which is all a shared bucket costs.
 */
export const LOCK_BUCKETS = 64;

/**
 * Locks the buckets of `values` (kind and shop in the key), each once, in
 * the order of their keys: every holder of several takes them in that
 * order, so two never wait on each other in a cycle.
 */
export async function lockBuckets(tx: Tx, kind: string, shopId: string, values: string[]): Promise<void> {
  if (values.length === 0) return;
  // The aggregate reads the subquery's rows in its ORDER BY, so the locks are taken in it.
  await tx.$queryRaw`
    SELECT count(pg_advisory_xact_lock(k))::int AS n FROM (
      SELECT DISTINCT hashtextextended(${kind} || ':' || ${shopId}::text || ':' || (hashtextextended(v, 0) & ${LOCK_BUCKETS - 1})::text, 0) AS k
        FROM unnest(${[...new Set(values)]}::text[]) AS u(v)
       ORDER BY k) s`;
}
