import type { Db, Tx } from '../../lib/db';
import { UNGUARDED, type IdempotencyGuard } from '../idempotency/guard';
import { publishCommitted, writeOutboxEvent, type OutboxRow } from '../outbox/outbox';
import type { Producer } from '../../queue/producer';
import type { ShopSyncRow } from './shop-sync-view';

export interface QueuedSync {
  sync: ShopSyncRow;
  /** False: a sync of the shop was queued or running already, and this is that one. */
  created: boolean;
  /** The event that starts the job (published after commit, else by the dispatcher). */
  outbox: OutboxRow | null;
}

/**
 * Queues a sync of the shop's customers inside the caller's transaction:
 * the row and its outbox event. Postgres keeps one queued or running sync per
 * shop (partial unique index), so a second start returns the open one.
 * `install`: only for a shop that never had a sync (the first token
 * exchange; a re-exchange after a revoked token is not an install).
 */
export async function queueShopSync(tx: Tx, o: { shopId: string; reason: 'install' | 'resync'; traceId?: string | null }): Promise<QueuedSync | null> {
  const onlyFirst = o.reason === 'install';
  // The open sync can end (the worker's finish commits) between the INSERT that met it and the read of it; then
  // the INSERT is tried again, and finds no open sync to meet. A sync lasts far longer than two statements, so
  // a second miss means something else is wrong.
  for (let attempt = 0; attempt < 3; attempt++) {
    const [row] = await tx.$queryRaw<ShopSyncRow[]>`
      INSERT INTO shop_syncs (shop_id, reason, trace_id)
      SELECT ${o.shopId}::uuid, ${o.reason}, ${o.traceId?.slice(0, 128) ?? null}
       WHERE NOT ${onlyFirst}::boolean OR NOT EXISTS (SELECT 1 FROM shop_syncs WHERE shop_id = ${o.shopId}::uuid)
      ON CONFLICT (shop_id) WHERE status IN ('queued', 'running') DO NOTHING
      RETURNING *`;
    if (row) {
      const outbox = await writeOutboxEvent(tx, { type: 'shop.sync.v1', aggregateId: row.id, payload: { syncId: row.id, shopId: o.shopId }, traceId: o.traceId ?? undefined });
      return { sync: row, created: true, outbox };
    }
    if (onlyFirst) return null;
    const [open] = await tx.$queryRaw<ShopSyncRow[]>`
      SELECT * FROM shop_syncs WHERE shop_id = ${o.shopId}::uuid AND status IN ('queued', 'running')`;
    if (open) return { sync: open, created: false, outbox: null };
  }
  throw new Error('shop sync: the open sync kept ending while starting another');
}

/**
 * POST /api/shop/sync and the on-call: a resync of the shop's customers, or
 * the one already queued or running. The Idempotency-Key guard is checked in
 * the same transaction.
 */
export async function startShopSync(
  db: Db,
  producer: Producer,
  o: { shopId: string; traceId?: string | null },
  guard: IdempotencyGuard = UNGUARDED,
): Promise<{ sync: ShopSyncRow; created: boolean }> {
  const queued = await db.$transaction(async (tx) => {
    await guard.assertHeld(tx);
    return (await queueShopSync(tx, { shopId: o.shopId, reason: 'resync', traceId: o.traceId }))!;
  });
  if (queued.outbox) await publishCommitted(db, producer, [queued.outbox]);
  return { sync: queued.sync, created: queued.created };
}
