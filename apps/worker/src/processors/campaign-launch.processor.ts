import { DelayedError, type Job } from 'bullmq';
import { launchCampaign } from '../../../../domain/campaigns/launch-campaign';
import { loadSendContext } from '../../../../domain/campaigns/send-context';
import { trackedLinksOf } from '../../../../domain/links/link-code';
import { jobIds } from '../../../../queue/job-ids';
import type { JobPayload } from '../../../../queue/payloads';
import type { WorkerDeps } from '../deps';
import { defineHandler } from './types';

export const campaignLaunchHandler = defineHandler('campaign.launch.v1', async (payload, { deps, job, token }) => {
  const result = await launchCampaign(
    { db: deps.db, producer: deps.producer, now: deps.now, batchSize: deps.config.SEND_BATCH_SIZE, logger: deps.logger, links: trackedLinksOf(deps.config) },
    payload,
  );
  if (result.outcome === 'deferred') return deferLaunch(deps, job, token, payload, result.until);
  return result;
});

/**
 * Scheduled for later: the same job waits until `until` (its id stays taken,
 * so no duplicate launch can be added meanwhile; runAgainIn).
 *
 * A move to an earlier time (PATCH) publishes its launch event with
 * advanceDelayed, which brings a delayed job forward; but committed after
 * this run read the time and published while the job was still active, it
 * found nothing delayed, and the job would wait for the later time, sending
 * at the time the merchant moved away from. So, once the job is delayed, the
 * time is read again from the campaign: an earlier one brings the job
 * forward here. A move committing after this read publishes after the job
 * was delayed, and brings it forward itself.
 */
export async function deferLaunch(
  deps: Pick<WorkerDeps, 'db' | 'producer' | 'now'>,
  job: Job,
  token: string | undefined,
  payload: JobPayload<'campaign.launch.v1'>,
  until: Date,
): Promise<never> {
  await job.moveToDelayed(Date.now() + Math.max(0, until.getTime() - deps.now().getTime()), token);
  const ctx = await loadSendContext(deps.db, payload.campaignId, payload.shopId);
  const at = ctx?.status === 'scheduled' ? ctx.scheduledAt : null;
  if (at && at.getTime() < until.getTime()) {
    const delay = Math.max(0, at.getTime() - deps.now().getTime());
    await deps.producer.add('campaign.launch.v1', payload, { jobId: jobIds.launch(payload.campaignId), delay, advanceDelayed: true });
  }
  // BullMQ leaves a job the run moved only when the run throws its DelayedError.
  throw new DelayedError();
}
