import { jobIds } from '../../queue/job-ids';
import type { Producer } from '../../queue/producer';

/** Length of a drain slot: reports stored within one slot share one job. */
export const DELIVERY_REPORT_SLOT_MS = 100;
/** The drain starts this long after its slot ends, so every report committed within the slot is visible to it. */
const SLOT_GRACE_MS = 50;

/**
 * The job half of storing a delivery report: instead of one job per report,
 * every report stored within the same 100 ms slot shares one
 * `webhook.delivery-reports.v1` job (deterministic id `dlr-<slot end>`, so
 * adding it again is a no-op), delayed until just after the slot ends. It
 * drains every stored report in bulk (applyDeliveryReports), not only its
 * slot's, so a report that missed its slot's drain (clock skew between hosts)
 * is taken by the next one; if no next one comes, reconciliation gives the
 * row a job of its own (requeueStuckWebhookEvents), as for any event whose job
 * was lost.
 */
export async function enqueueDeliveryReportsJob(producer: Producer, now: number = Date.now()): Promise<void> {
  const slotEnd = (Math.floor(now / DELIVERY_REPORT_SLOT_MS) + 1) * DELIVERY_REPORT_SLOT_MS;
  // This process already added this slot's job: adding it again would be a
  // no-op that still costs a Redis round trip per report.
  if (slotAdded.get(producer) === slotEnd) return;
  await producer.add(
    'webhook.delivery-reports.v1',
    { traceId: `dlr-${slotEnd}` },
    { jobId: jobIds.deliveryReports(slotEnd), delay: slotEnd - now + SLOT_GRACE_MS, attempts: 3 },
  );
  slotAdded.set(producer, slotEnd);
}

const slotAdded = new WeakMap<Producer, number>();
