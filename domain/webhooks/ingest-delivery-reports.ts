import { createHash } from 'node:crypto';
import { currentTraceId } from '../../lib/context';
import { enqueueDeliveryReportsJob } from './enqueue-delivery-reports-job';
import type { IngestDeps } from './ingest-event';
import { describeError } from './mark-event';
import { recordWebhookEvent } from './record-event';
import type { DeliveryReport } from './sms-payloads';
import { REPORT_BATCH_TOPIC } from './split-report-batches';
import type { WebhookProvider } from './types';

export interface ReportsIngestResult {
  /** Reports of the body stored by this request. */
  received: number;
  /** Reports of a body already stored (the provider retried it). */
  duplicates: number;
}

/**
 * The receiving half of a batched delivery-report callback, after its
 * signature (which covers every report in it) was verified: the body is ONE
 * `webhook_events` row (topic `status-batch`, event id `batch:<SHA-256 of the
 * raw body>`, the validated reports as payload), stored through the inbox's
 * shared multi-row INSERTs, and the caller hears back only once it is
 * committed (the provider does not resend a callback answered 200). A retried
 * body is its own duplicate. Each report is applied by the delivery-report
 * drain in bulk like a single one; a report already applied (sent singly
 * too, or repeated) changes nothing, as recipient statuses only move forward.
 * One row per callback instead of one per report: the row, its index entries
 * and its update to `processed` were most of a report's Postgres cost.
 */
export async function ingestDeliveryReports(
  deps: IngestDeps & { now: () => Date },
  provider: WebhookProvider,
  reports: DeliveryReport[],
  rawBody: Buffer,
): Promise<ReportsIngestResult> {
  const eventId = `batch:${createHash('sha256').update(rawBody).digest('hex')}`;
  const id = await recordWebhookEvent(deps.db, { provider, eventId, topic: REPORT_BATCH_TOPIC, payload: { reports }, traceId: currentTraceId() });
  if (id === null) {
    deps.metrics.webhookEvents.inc({ source: provider, outcome: 'duplicate' }, reports.length);
    return { received: 0, duplicates: reports.length };
  }
  deps.metrics.webhookEvents.inc({ source: provider, outcome: 'received' }, reports.length);
  // Not awaited: the provider hears back once the row is committed, not after
  // a Redis round trip too (it was the slow tail of the callbacks that made
  // one). If the add fails, the row is stored all the same: the next slot's
  // drain takes every stored report, and reconciliation gives a row left
  // `received` a job of its own.
  enqueueDeliveryReportsJob(deps.producer, deps.now().getTime()).catch((err: unknown) =>
    deps.logger.warn({ provider, reports: reports.length, err: { message: describeError(err) } }, 'delivery reports stored but their drain job could not be enqueued; reconciliation will requeue them'),
  );
  return { received: reports.length, duplicates: 0 };
}
