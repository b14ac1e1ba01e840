import { launchCampaign } from '../../../../domain/campaigns/launch-campaign';
import { trackedLinksOf } from '../../../../domain/links/link-code';
import { defineHandler } from './types';
import { runAgainIn } from './run-again-in';

export const campaignLaunchHandler = defineHandler('campaign.launch.v1', async (payload, { deps, job, token }) => {
  const result = await launchCampaign(
    { db: deps.db, producer: deps.producer, now: deps.now, batchSize: deps.config.SEND_BATCH_SIZE, logger: deps.logger, links: trackedLinksOf(deps.config) },
    payload,
  );
  if (result.outcome === 'deferred') {
    // Scheduled for later or inside quiet hours: the same job waits (its id
    // stays taken, so no duplicate launch can be added meanwhile).
    return runAgainIn(job, token, result.until.getTime() - deps.now().getTime());
  }
  return result;
});
