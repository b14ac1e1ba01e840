import type { Db } from '../../lib/db';
import type { QueueSet } from '../../queue/connection';
import { ensureJob } from '../../queue/ensure-job';
import { jobIds } from '../../queue/job-ids';
import { failContactImport } from '../contacts/fail-contact-import';
import { IMPORT_MAX_ATTEMPTS } from '../contacts/import-contacts';

/**
 * Imports queued or running but quiet for `quietMs` (a running one touches
 * its row every chunk): one whose job is gone (the worker died and BullMQ
 * gave up on it, or the job was lost) is resumed by adding the job again
 * under its deterministic id (it continues from `processed`); one that has
 * been started IMPORT_MAX_ATTEMPTS times already is failed, its staged rows
 * deleted with it.
 */
export async function repairStuckImports(
  deps: { db: Db; queues: QueueSet },
  opts: { now: Date; quietMs: number; limit: number },
): Promise<{ requeued: number; failed: number }> {
  const quietSince = new Date(opts.now.getTime() - opts.quietMs);
  const stuck = await deps.db.$queryRaw<{ id: string; shop_id: string; trace_id: string | null; attempts: number }[]>`
    SELECT id, shop_id, trace_id, attempts FROM contact_imports
     WHERE status IN ('queued', 'running') AND updated_at < ${quietSince}
     ORDER BY updated_at
     LIMIT ${opts.limit}`;
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
