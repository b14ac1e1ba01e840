import { processWebhookEvent } from '../../../../domain/webhooks/process-event';
import { defineHandler } from './types';

export const webhookProcessHandler = defineHandler('webhook.process.v1', async (payload, { deps, job }) => {
  const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  const status = await processWebhookEvent(deps, payload.eventId, { final });
  return { status };
});
