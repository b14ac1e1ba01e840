import type { Db } from '../../lib/db';
import type { QueueSet } from '../../queue/connection';
import { ensureJobs } from '../../queue/ensure-job';
import { jobIds } from '../../queue/job-ids';

/**
 * Flows marked deleted more than `quietMs` ago and still present: their job
 * was lost (Redis), gave up after its attempts, or never got published. The
 * job is added again under its deterministic id; one that is still live
 * (running, or waiting between slices) is left alone. The deletion resumes
 * from what is left.
 */
export async function requeueFlowDeletions(deps: { db: Db; queues: QueueSet }, opts: { now: Date; quietMs: number; limit: number }): Promise<number> {
  const flows = await deps.db.$queryRaw<{ id: string }[]>`
    SELECT id FROM flows
     WHERE deleted_at IS NOT NULL AND deleted_at < ${new Date(opts.now.getTime() - opts.quietMs)}
     ORDER BY deleted_at
     LIMIT ${opts.limit}`;
  return ensureJobs(
    deps.queues,
    'flows.delete.v1',
    flows.map((f) => ({ jobId: jobIds.flowDelete(f.id), payload: { traceId: `reconcile-flow-delete-${f.id}`, flowId: f.id } })),
  );
}
