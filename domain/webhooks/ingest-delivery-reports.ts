import { currentTraceId } from '../../lib/context';
import { enqueueDeliveryReportsJob } from './enqueue-delivery-reports-job';
import type { IngestDeps } from './ingest-event';
import { describeError } from './mark-event';
import { recordWebhookEventsShared } from './record-event';
import { deliveryReportEventId, type DeliveryReport } from './sms-payloads';
import type { WebhookProvider } from './types';

export interface ReportsIngestResult {
  /** Reports stored now (new events). */
  received: number;
  /** Reports already stored (a retried callback, or a report repeated in it). */
  duplicates: number;
}

/**
 * The receiving half of a batched delivery-report callback, after its
 * signature (which covers every report in it) was verified: each report is
 * one `webhook_events` row with the single form's dedup key, stored through
 * the inbox's shared multi-row INSERTs, and the caller hears back only once
 * every row is committed (the provider does not resend a callback answered
 * 200). Applied like any stored report: by the delivery-report drain of the
 * current slot (enqueueDeliveryReportsJob), in bulk.
 */
export async function ingestDeliveryReports(
  deps: IngestDeps & { now: () => Date },
  provider: WebhookProvider,
  reports: DeliveryReport[],
): Promise<ReportsIngestResult> {
  const traceId = currentTraceId();
  const ids = await recordWebhookEventsShared(
    deps.db,
    reports.map((r) => ({ provider, eventId: deliveryReportEventId(r), topic: 'status', payload: r, traceId })),
  );
  const received = ids.filter((id) => id !== null).length;
  const duplicates = ids.length - received;
  if (received > 0) deps.metrics.webhookEvents.inc({ source: provider, outcome: 'received' }, received);
  if (duplicates > 0) deps.metrics.webhookEvents.inc({ source: provider, outcome: 'duplicate' }, duplicates);
  if (received > 0) {
    try {
      await enqueueDeliveryReportsJob(deps.producer, deps.now().getTime());
    } catch (err) {
      // Stored: reconciliation gives rows left `received` jobs of their own.
      deps.logger.warn({ provider, reports: received, err: { message: describeError(err) } }, 'delivery reports stored but their drain job could not be enqueued; reconciliation will requeue them');
    }
  }
  return { received, duplicates };
}
