import { jobIds } from '../../queue/job-ids';
import type { Producer } from '../../queue/producer';
import { addSlotDrainJob } from './slot-job';

/**
 * The job half of storing a delivery report: every report stored within the
 * same slot shares one `webhook.delivery-reports.v1` job (id `dlr-<slot
 * end>`), which drains every stored report in bulk (applyDeliveryReports).
 */
export async function enqueueDeliveryReportsJob(producer: Producer, now: number = Date.now(), afterMs = 0): Promise<void> {
  await addSlotDrainJob(producer, 'webhook.delivery-reports.v1', jobIds.deliveryReports, now, { attempts: 3, afterMs });
}
