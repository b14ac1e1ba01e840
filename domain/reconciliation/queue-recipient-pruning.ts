import type { Db } from '../../lib/db';
import type { QueueSet } from '../../queue/connection';
import { ensureJobs } from '../../queue/ensure-job';
import { jobIds } from '../../queue/job-ids';
import { awaitingPruningSql, prunableCampaignSql, retentionCutoff } from '../campaigns/recipient-retention';

/**
 * Campaigns finished and quiet for RECIPIENT_RETENTION_DAYS whose recipients
 * are not pruned yet (never started, or the job was lost with Redis or gave
 * up): their campaigns.prune-recipients.v1 job, under its deterministic id;
 * one still live (running, or waiting between slices) is left alone. The
 * partial index campaigns_recipient_retention_idx holds only finished,
 * unpruned campaigns, oldest activity first, so a pass reads `limit` of them.
 */
export async function queueRecipientPruning(deps: { db: Db; queues: QueueSet }, opts: { now: Date; retentionDays: number; limit: number }): Promise<number> {
  const cutoff = retentionCutoff(opts.now, opts.retentionDays);
  const campaigns = await deps.db.$queryRaw<{ id: string }[]>`
    SELECT c.id FROM campaigns c
     WHERE ${awaitingPruningSql('c', cutoff)} AND ${prunableCampaignSql('c', cutoff)}
     ORDER BY c.last_activity_at
     LIMIT ${opts.limit}`;
  return ensureJobs(
    deps.queues,
    'campaigns.prune-recipients.v1',
    campaigns.map((c) => ({ jobId: jobIds.pruneRecipients(c.id), payload: { traceId: `reconcile-prune-${c.id}`, campaignId: c.id } })),
  );
}
