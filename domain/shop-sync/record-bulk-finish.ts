import type { DbOrTx } from '../../lib/db';
import type { ShopSyncRow } from './shop-sync-view';

/** Shopify's end states of a bulk operation (BulkOperationStatus). */
const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELED', 'EXPIRED']);

export function isBulkFinished(status: string | null | undefined): boolean {
  return TERMINAL.has(String(status ?? '').toUpperCase());
}

/** The error a sync ends with when Shopify's export did not complete. */
export function bulkFailureMessage(status: string, errorCode: string | null): string {
  return `Shopify's customer export ended ${status}${errorCode ? ` (${errorCode})` : ''}; start a resync`;
}

/**
 * Records that the sync's bulk operation finished, learnt from the
 * bulk_operations/finish webhook or from polling, whichever comes first: one
 * guarded UPDATE (`bulk_finished_via IS NULL`), so the second learner
 * changes nothing and knows it (`won: false`). A completed export leaves the
 * sync running (its result is applied next); any other end fails the sync
 * with Shopify's error code.
 */
export async function recordBulkFinish(
  db: DbOrTx,
  o: { shopId: string; bulkOperationId: string; status: string; errorCode: string | null; objectCount: number | null; via: 'webhook' | 'poll' },
): Promise<{ row: ShopSyncRow; won: boolean } | null> {
  const status = o.status.toUpperCase().slice(0, 64);
  const errorCode = o.errorCode?.toUpperCase().slice(0, 64) ?? null;
  if (!TERMINAL.has(status)) return null;
  const failed = status !== 'COMPLETED';
  const message = failed ? bulkFailureMessage(status, errorCode) : null;
  const [won] = await db.$queryRaw<ShopSyncRow[]>`
    UPDATE shop_syncs
       SET bulk_status = ${status}, bulk_error_code = ${errorCode}, bulk_object_count = COALESCE(${o.objectCount}::bigint, bulk_object_count),
           bulk_finished_via = ${o.via}, bulk_finished_at = now(), updated_at = now(),
           status = CASE WHEN ${failed}::boolean THEN 'failed' ELSE status END,
           error = CASE WHEN ${failed}::boolean THEN ${message}::text ELSE error END,
           finished_at = CASE WHEN ${failed}::boolean THEN now() ELSE finished_at END,
           claim_token = CASE WHEN ${failed}::boolean THEN NULL ELSE claim_token END,
           lease_until = CASE WHEN ${failed}::boolean THEN NULL ELSE lease_until END
     WHERE shop_id = ${o.shopId}::uuid AND bulk_operation_id = ${o.bulkOperationId}
       AND status = 'running' AND bulk_finished_via IS NULL
    RETURNING *`;
  if (won) return { row: won, won: true };
  const [row] = await db.$queryRaw<ShopSyncRow[]>`
    SELECT * FROM shop_syncs WHERE shop_id = ${o.shopId}::uuid AND bulk_operation_id = ${o.bulkOperationId}
     ORDER BY created_at DESC LIMIT 1`;
  return row ? { row, won: false } : null;
}
