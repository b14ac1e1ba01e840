import { jobIds } from '../../queue/job-ids';
import type { Producer } from '../../queue/producer';
import { addSlotDrainJob } from './slot-job';

/**
 * The job half of storing a Stripe or Shopify event (or an inbound text
 * whose inline processing did not run): every event stored within the same
 * slot shares one `webhook.events.v1` drain (id `wh-<slot end>`) instead of a
 * job each, which under a burst was most of an event's cost.
 */
export async function enqueueEventsDrainJob(producer: Producer, now: number = Date.now()): Promise<void> {
  await addSlotDrainJob(producer, 'webhook.events.v1', jobIds.webhookEvents, now, { attempts: 3 });
}
