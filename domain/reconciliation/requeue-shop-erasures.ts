import type { Db } from '../../lib/db';
import type { QueueSet } from '../../queue/connection';
import { ensureJobs } from '../../queue/ensure-job';
import { jobIds } from '../../queue/job-ids';

/**
 * Shops whose erasure was requested more than `quietMs` ago and that still
 * exist: their job was lost (Redis), gave up after its attempts, or never
 * got published. The job is added again under its deterministic id; one that
 * is still live (running, or waiting between slices) is left alone. The
 * erasure resumes from what is left: GDPR does not let a shop/redact lapse.
 */
export async function requeueShopErasures(deps: { db: Db; queues: QueueSet }, opts: { now: Date; quietMs: number; limit: number }): Promise<number> {
  const shops = await deps.db.$queryRaw<{ id: string }[]>`
    SELECT id FROM shops
     WHERE erasure_requested_at IS NOT NULL AND erasure_requested_at < ${new Date(opts.now.getTime() - opts.quietMs)}
     ORDER BY erasure_requested_at
     LIMIT ${opts.limit}`;
  return ensureJobs(
    deps.queues,
    'privacy.shop-erase.v1',
    shops.map((s) => ({ jobId: jobIds.shopErase(s.id), payload: { traceId: `reconcile-erase-${s.id}`, shopId: s.id } })),
  );
}
