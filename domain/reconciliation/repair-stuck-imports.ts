import { empty, sql, type Db } from '../../lib/db';
import type { QueueSet } from '../../queue/connection';
import { ensureJob } from '../../queue/ensure-job';
import { jobIds } from '../../queue/job-ids';
import { failContactImport } from '../contacts/fail-contact-import';
import { IMPORT_MAX_ATTEMPTS } from '../contacts/import-contacts';
import { FROM_OLDEST, scanRotating, type PassCursors } from './pass-cursor';

/**
 * Imports queued or running but quiet for `quietMs` (a running one touches
 * its row every chunk): one whose job is gone (the worker died and BullMQ
 * gave up on it, or the job was lost) is resumed by adding the job again
 * under its deterministic id (it continues from `processed`); one that has
 * been started IMPORT_MAX_ATTEMPTS times already is failed, its staged rows
 * deleted with it. Imports waiting for the queue with their job alive stay
 * candidates, so the scan resumes where the previous pass stopped (`cursors`).
 */
export async function repairStuckImports(
  deps: { db: Db; queues: QueueSet },
  opts: { now: Date; quietMs: number; limit: number; cursors?: PassCursors },
): Promise<{ requeued: number; failed: number }> {
  const quietSince = new Date(opts.now.getTime() - opts.quietMs);
  const stuck = await scanRotating(
    opts.cursors ?? FROM_OLDEST,
    'contact-imports',
    opts.limit,
    (after, n) => deps.db.$queryRaw<{ id: string; shop_id: string; trace_id: string | null; attempts: number; updated_at: Date }[]>`
    SELECT id, shop_id, trace_id, attempts, updated_at FROM contact_imports
     WHERE status IN ('queued', 'running') AND updated_at < ${quietSince}
       ${after ? sql`AND (updated_at, id) > (${after[0]}::timestamptz, ${after[1]}::uuid)` : empty}
     ORDER BY updated_at, id
     LIMIT ${n}`,
    (imp) => [imp.updated_at.toISOString(), imp.id],
  );
  let requeued = 0;
  let failed = 0;
  for (const imp of stuck) {
    if (imp.attempts >= IMPORT_MAX_ATTEMPTS) {
      if (await failContactImport(deps.db, imp.id, 'The import could not be completed; submit it again')) failed++;
      continue;
    }
    const outcome = await ensureJob(deps.queues, 'contacts.import.v1', jobIds.contactsImport(imp.id), {
      traceId: imp.trace_id ?? `reconcile-${imp.id}`,
      importId: imp.id,
      shopId: imp.shop_id,
    });
    if (outcome !== 'live') requeued++;
  }
  return { requeued, failed };
}
