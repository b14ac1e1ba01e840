import { empty, sql, type Db } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';
import type { QueueSet } from '../../queue/connection';
import { ensureJob } from '../../queue/ensure-job';
import { jobIds } from '../../queue/job-ids';
import { failAndObserve } from '../shop-sync/finish-shop-sync';
import { FROM_OLDEST, scanRotating, type PassCursors } from './pass-cursor';

/** A sync older than this is failed rather than resumed (Shopify's export and our apply take minutes, not a day). */
export const SYNC_MAX_AGE_MS = 24 * 3_600_000;

/**
 * Customer syncs queued or running but quiet for `quietMs` (a polling sync
 * touches its row every poll, at most 30 s apart; an applying one every
 * chunk) whose apply claim, if any, has run out: their job died or was lost.
 * One younger than SYNC_MAX_AGE_MS gets its job again under its
 * deterministic id (it resumes: polls, or applies from its cursor); an older
 * one is failed with an error the merchant sees, and can be started again.
 * Syncs queued behind others with their job alive stay candidates, so the
 * scan resumes where the previous pass stopped (`cursors`).
 */
export async function repairStuckSyncs(
  deps: { db: Db; queues: QueueSet; metrics: Metrics },
  opts: { now: Date; quietMs: number; limit: number; cursors?: PassCursors },
): Promise<{ requeued: number; failed: number }> {
  const quietSince = new Date(opts.now.getTime() - opts.quietMs);
  const stuck = await scanRotating(
    opts.cursors ?? FROM_OLDEST,
    'shop-syncs',
    opts.limit,
    (after, n) => deps.db.$queryRaw<{ id: string; shop_id: string; trace_id: string | null; created_at: Date; updated_at: Date }[]>`
    SELECT id, shop_id, trace_id, created_at, updated_at FROM shop_syncs
     WHERE status IN ('queued', 'running') AND updated_at < ${quietSince}
       AND (lease_until IS NULL OR lease_until < ${opts.now})
       ${after ? sql`AND (updated_at, id) > (${after[0]}::timestamptz, ${after[1]}::uuid)` : empty}
     ORDER BY updated_at, id
     LIMIT ${n}`,
    (s) => [s.updated_at.toISOString(), s.id],
  );
  let requeued = 0;
  let failed = 0;
  for (const s of stuck) {
    if (opts.now.getTime() - s.created_at.getTime() > SYNC_MAX_AGE_MS) {
      if (await failAndObserve(deps, s.id, 'The sync did not finish within 24 hours; start a resync')) failed++;
      continue;
    }
    const outcome = await ensureJob(deps.queues, 'shop.sync.v1', jobIds.shopSync(s.id), {
      traceId: s.trace_id ?? `reconcile-${s.id}`,
      syncId: s.id,
      shopId: s.shop_id,
    });
    if (outcome !== 'live') requeued++;
  }
  return { requeued, failed };
}
