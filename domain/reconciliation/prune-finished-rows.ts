import type { Db } from '../../lib/db';

// Rows that only served to make something exactly-once and are long finished:
// processed (or ignored, dropped) webhook events past their retention — by
// then no sender retries them — and published outbox events. Deleted in
// bounded batches so a pass never holds a long lock.

export async function pruneFinishedWebhookEvents(db: Db, opts: { before: Date; batchSize: number; maxBatches: number }): Promise<number> {
  let total = 0;
  for (let i = 0; i < opts.maxBatches; i++) {
    const n = await db.$executeRaw`
      DELETE FROM webhook_events WHERE id IN (
        SELECT id FROM webhook_events WHERE status IN ('processed', 'ignored', 'dropped') AND received_at < ${opts.before}
         LIMIT ${opts.batchSize})`;
    total += n;
    if (n < opts.batchSize) break;
  }
  return total;
}

export async function prunePublishedOutbox(db: Db, opts: { before: Date; batchSize: number; maxBatches: number }): Promise<number> {
  let total = 0;
  for (let i = 0; i < opts.maxBatches; i++) {
    const n = await db.$executeRaw`
      DELETE FROM outbox_events WHERE id IN (
        SELECT id FROM outbox_events WHERE published_at IS NOT NULL AND published_at < ${opts.before} LIMIT ${opts.batchSize})`;
    total += n;
    if (n < opts.batchSize) break;
  }
  return total;
}
