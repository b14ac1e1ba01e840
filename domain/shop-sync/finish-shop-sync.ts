import type { Db, DbOrTx } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';
import type { ChunkCounts } from './apply-customer-chunk';
import type { ShopSyncRow } from './shop-sync-view';

const MAX_ERROR = 1_000;

/**
 * Ends an open sync as failed with a message the merchant reads at
 * GET /api/shop/sync (guarded: a sync that ended already is left alone).
 */
export async function failShopSync(db: DbOrTx, syncId: string, message: string): Promise<ShopSyncRow | null> {
  const [row] = await db.$queryRaw<ShopSyncRow[]>`
    UPDATE shop_syncs
       SET status = 'failed', error = ${message.slice(0, MAX_ERROR)}, finished_at = now(), claim_token = NULL, lease_until = NULL, updated_at = now()
     WHERE id = ${syncId}::uuid AND status IN ('queued', 'running')
    RETURNING *`;
  return row ?? null;
}

/** Metrics of a sync that just ended (by whoever ended it). */
export function observeSyncEnd(metrics: Metrics, row: ShopSyncRow): void {
  if (row.status !== 'completed' && row.status !== 'failed') return;
  metrics.shopifySyncs.inc({ outcome: row.status });
  const end = row.finished_at ?? new Date();
  metrics.shopifySyncDuration.observe({ outcome: row.status }, Math.max(0, (end.getTime() - row.created_at.getTime()) / 1_000));
}

export function observeChunk(metrics: Metrics, c: ChunkCounts): void {
  const add = (outcome: string, n: number) => n > 0 && metrics.shopifySyncCustomers.inc({ outcome }, n);
  add('created', c.contactsCreated);
  add('updated', c.contactsUpdated);
  add('unchanged', c.contactsUnchanged);
  add('skipped_no_phone', c.skippedNoPhone);
  add('invalid_phone', c.invalidPhone);
}

/** Fails a sync and records it; for callers outside a transaction. */
export async function failAndObserve(deps: { db: Db; metrics: Metrics }, syncId: string, message: string): Promise<ShopSyncRow | null> {
  const row = await failShopSync(deps.db, syncId, message);
  if (row) observeSyncEnd(deps.metrics, row);
  return row;
}
