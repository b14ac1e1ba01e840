import { pruneCampaignRecipients } from '../../../../domain/campaigns/prune-campaign-recipients';
import { defineHandler } from './types';
import { runAgainIn, SLICE_YIELD_MS } from './run-again-in';

export const campaignsPruneRecipientsHandler = defineHandler('campaigns.prune-recipients.v1', async (payload, { deps, job, token }) => {
  const result = await pruneCampaignRecipients(deps, payload.campaignId, { now: deps.now(), retentionDays: deps.config.RECIPIENT_RETENTION_DAYS });
  if (result.outcome === 'yielded') {
    // Its slice used: the same job goes on shortly, from the rows left.
    return runAgainIn(job, token, SLICE_YIELD_MS);
  }
  return result;
});
