import { splitReportBatches } from '../split-report-batches';
import type { WebhookHandler } from '../types';

/**
 * A stored batch of delivery reports reached the per-event path (its drain
 * job was lost and reconciliation gave it a job of its own): its reports are
 * stored as single rows and the batch is closed, in one statement; the next
 * delivery-report drain (or reconciliation) applies them.
 */
export const smsDeliveryReportBatch: WebhookHandler = async ({ deps, event }) => {
  await splitReportBatches(deps.db, [event.id]);
  return 'processed';
};
