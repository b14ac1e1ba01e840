import { applyDeliveryReports, handOffDeliveryReports, REPORT_RETRY_MS, type DeliveryReportBulkResult } from '../../../../domain/webhooks/apply-delivery-reports';
import { enqueueDeliveryReportsJob } from '../../../../domain/webhooks/enqueue-delivery-reports-job';
import { enqueueWebhookJob } from '../../../../domain/webhooks/enqueue-event-job';
import { describeError } from '../../../../domain/webhooks/mark-event';
import { splitClaimableReportBatches } from '../../../../domain/webhooks/split-report-batches';
import { defineHandler } from './types';

/** Reports per transaction: large enough to amortise the round trips, small enough to keep row locks brief. */
const PASS = 1_000;

/**
 * Drains stored delivery reports (single rows and batched callbacks) in bulk
 * passes until a pass finds fewer than a full one. A report no recipient can take yet (it beat its send's settle)
 * waits for a later pass: the drain of a slot REPORT_RETRY_MS ahead is added
 * once for all of them. Only one still not applicable after the grace
 * (NOT_READY_GRACE_MS) gets its own `webhook.process.v1` job (retries with
 * backoff, then dropped), exactly as if it had been stored with one; so do all
 * reports of a pass that failed as a whole.
 */
export const webhookDeliveryReportsHandler = defineHandler('webhook.delivery-reports.v1', async (_payload, { deps }) => {
  let applied = 0;
  let waiting = 0;
  const retryLater = async (): Promise<void> => {
    if (waiting > 0) await enqueueDeliveryReportsJob(deps.producer, Date.now(), REPORT_RETRY_MS);
  };
  for (;;) {
    let r: DeliveryReportBulkResult;
    try {
      r = await applyDeliveryReports(deps.db, { limit: PASS });
    } catch (err) {
      const reason = `bulk apply failed: ${describeError(err)}`;
      deps.logger.warn({ err: { message: describeError(err) } }, 'delivery report bulk pass failed; its reports get jobs of their own');
      // Batched callbacks first become rows of their own, which the hand-off then takes.
      await splitClaimableReportBatches(deps.db, { limit: PASS });
      const handed = await handOffDeliveryReports(deps.db, { limit: PASS, reason });
      for (const n of handed) await enqueueWebhookJob(deps.producer, n.id, n.traceId);
      if (handed.length < PASS) {
        await retryLater();
        return { applied, handedOff: handed.length };
      }
      continue;
    }
    for (const a of r.appliedByProvider) deps.metrics.deliveryReports.inc({ provider: a.provider.replace(/^sms-/, ''), status: a.status }, a.n);
    for (const o of r.outcomes) deps.metrics.webhookEvents.inc({ source: o.provider, outcome: o.outcome }, o.n);
    for (const status of ['delivered', 'failed'] as const) {
      if (r.unknownResolved[status] > 0) deps.metrics.smsUnknownResolved.inc({ via: 'delivery_report', status }, r.unknownResolved[status]);
    }
    for (const n of r.notReady) await enqueueWebhookJob(deps.producer, n.id, n.traceId);
    applied += r.applied.delivered + r.applied.failed;
    waiting += r.waiting;
    if (!r.full) {
      await retryLater();
      return { applied, waiting };
    }
  }
});
