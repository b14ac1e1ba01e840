import { UnrecoverableError, Worker } from 'bullmq';
import { sendBatch } from '../../../../domain/campaigns/send-batch';
import { trackedLinksOf } from '../../../../domain/links/link-code';
import { ProviderRequestError } from '../../../../domain/messaging/providers/provider';
import { limitedProvider } from '../limited-provider';
import { defineHandler } from './types';
import { runAgainIn } from './run-again-in';

export const campaignSendBatchHandler = defineHandler('campaign.send-batch.v1', async (payload, { deps, job, token, worker }) => {
  const provider = limitedProvider(deps);
  if (!provider) throw new UnrecoverableError('no SMS provider configured for this worker');
  let result;
  try {
    result = await sendBatch(
      {
        db: deps.db,
        provider,
        now: deps.now,
        leaseMs: deps.config.SEND_LEASE_MS,
        phoneHashKey: deps.config.PHONE_HASH_KEY,
        quietHoursFloor: deps.config.SMS_QUIET_HOURS_FLOOR,
        links: trackedLinksOf(deps.config),
        metrics: deps.metrics,
        logger: deps.logger,
      },
      payload,
    );
  } catch (err) {
    // A refused API key or malformed request fails the same way on every
    // retry; the claim was given back, the rows wait for an operator.
    if (err instanceof ProviderRequestError) throw new UnrecoverableError(err.message);
    throw err;
  }
  switch (result.outcome) {
    case 'deferred':
      return runAgainIn(job, token, result.until.getTime() - deps.now().getTime());
    case 'rate_limited':
      // Pauses the whole queue, and the job goes back to wait without using an attempt.
      if (!worker) throw new Error('provider rate limited the request and no worker is available to pause');
      await worker.rateLimit(Math.max(1, result.retryAfterMs));
      throw Worker.RateLimitError();
    case 'retry':
      throw new Error(`batch ${payload.batchNo}: ${(result.settle?.pending ?? 0) + (result.settle?.resend ?? 0)} recipients need another attempt`);
    default:
      return result;
  }
});
