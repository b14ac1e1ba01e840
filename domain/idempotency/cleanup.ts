import type { Db } from '../../lib/db';

/**
 * Deletes expired idempotency keys in bounded batches so one run never holds
 * a long lock or a huge transaction. Returns the number deleted.
 */
export async function deleteExpiredIdempotencyKeys(db: Db, opts: { now: Date; batchSize?: number; maxBatches?: number }): Promise<number> {
  const batchSize = opts.batchSize ?? 1_000;
  const maxBatches = opts.maxBatches ?? 50;
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await db.$executeRaw`
      DELETE FROM idempotency_keys WHERE id IN (
        SELECT id FROM idempotency_keys WHERE expires_at < ${opts.now}
         ORDER BY expires_at LIMIT ${batchSize})`;
    total += n;
    if (n < batchSize) break;
  }
  return total;
}
