import { sql } from '../../../lib/db';
import { recipientIdFromReference } from '../../campaigns/render-batch';
import { settleUnknownRecipients } from '../../campaigns/settle-unknown';
import { applyKeywordReplyReports } from '../../compliance/apply-keyword-reply-reports';
import { keywordReplyIdFromReference } from '../../compliance/send-keyword-reply';
import { applyFlowMessageReports } from '../../flows/apply-flow-message-reports';
import { flowMessageIdFromReference } from '../../flows/flow-message-reference';
import { recentCampaignSql } from '../delivery-report-recipient';
import { WebhookNotReadyError } from '../errors';
import { markEventOutcome } from '../mark-event';
import { deliveryReportSchema } from '../sms-payloads';
import type { WebhookHandler } from '../types';

const TERMINAL = new Set(['delivered', 'failed', 'skipped', 'cancelled']);


/**
 * Applies a delivery report with ONE statement on the hot path: a guarded
 * sent → delivered|failed UPDATE that also marks the event processed (and
 * records its shop). A duplicate or late report matches nothing and changes
 * nothing (the status trigger also refuses to move backwards). When nothing
 * matched, a report naming our reference may settle an `unknown` recipient
 * (delivered: charged once; failed: free; campaigns/settle-unknown.ts);
 * otherwise a query tells "already final" (done) from "not sent yet" (the
 * report beat the send's settle: retried with backoff, then dropped).
 */
export const smsDeliveryReport: WebhookHandler = async ({ deps, event, afterCommit }) => {
  const report = deliveryReportSchema.parse(event.payload);
  const recipientId = recipientIdFromReference(report.reference);
  const errorCode = report.status === 'failed' ? (report.errorCode ?? 'failed') : null;
  // A keyword reply's report (`k<id>`): its own table, closed at once, never the campaign path.
  const replyId = keywordReplyIdFromReference(report.reference);
  if (replyId !== null) {
    const [closed] = await deps.db.$transaction((tx) =>
      applyKeywordReplyReports(tx, [{ eventId: event.id, replyId, providerMessageId: report.id, status: report.status, errorCode }]),
    );
    return closed?.outcome ?? 'ignored';
  }
  // A flow message's report (`f<id>`): its own table; one that beat its send's settle is retried.
  const flowMessageId = flowMessageIdFromReference(report.reference);
  if (flowMessageId !== null) {
    const [closed] = await deps.db.$transaction((tx) =>
      applyFlowMessageReports(tx, [{ eventId: event.id, messageId: flowMessageId, providerMessageId: report.id, status: report.status, errorCode }]),
    );
    if (closed?.outcome === 'not_ready') throw new WebhookNotReadyError('flow message is not settled yet');
    return closed?.outcome ?? 'ignored';
  }

  // By our reference (primary key; the row's provider id must match or be
  // unknown yet), else by provider id among recently active campaigns
  // (delivery-report-recipient.ts).
  const match = recipientId !== null
    ? sql`campaign_recipients.id = ${recipientId}::bigint
          AND (campaign_recipients.provider_message_id = ${report.id} OR campaign_recipients.provider_message_id IS NULL)`
    : sql`campaign_recipients.provider_message_id = ${report.id} AND ${recentCampaignSql('campaign_recipients')}`;
  const [applied] = await deps.db.$queryRaw<{ n: number }[]>`
    WITH r AS (
      UPDATE campaign_recipients
         SET status = ${report.status}, final_at = now(), error_code = ${errorCode}, provider_message_id = ${report.id}
       WHERE ${match} AND status = 'sent'
      RETURNING campaign_id
    ), e AS (
      UPDATE webhook_events
         SET status = 'processed', processed_at = now(), attempts = attempts + 1, last_error = NULL,
             shop_id = COALESCE(shop_id, (SELECT c.shop_id FROM campaigns c WHERE c.id = (SELECT campaign_id FROM r LIMIT 1)))
       WHERE id = ${event.id}::uuid AND EXISTS (SELECT 1 FROM r)
      RETURNING 1
    )
    SELECT (SELECT count(*) FROM r)::int AS n`;
  const provider = event.provider.replace(/^sms-/, '');
  if ((applied?.n ?? 0) > 0) {
    afterCommit(() => deps.metrics.deliveryReports.inc({ provider, status: report.status }));
    return 'processed';
  }

  if (recipientId !== null) {
    const settled = await deps.db.$transaction(async (tx) => {
      const r = await settleUnknownRecipients(tx, [{ id: recipientId, status: report.status, providerMessageId: report.id, errorCode }], { logger: deps.logger, traceId: event.trace_id });
      const moved = r.moved[0];
      if (moved) await markEventOutcome(tx, event.id, 'processed', moved.shopId);
      return moved;
    });
    if (settled) {
      afterCommit(() => {
        deps.metrics.deliveryReports.inc({ provider, status: report.status });
        deps.metrics.smsUnknownResolved.inc({ via: 'delivery_report', status: report.status });
      });
      return 'processed';
    }
  }

  const [row] = await deps.db.$queryRaw<{ status: string; segments: number | null; shop_id: string }[]>`
    SELECT campaign_recipients.status, campaign_recipients.segments, c.shop_id
      FROM campaign_recipients JOIN campaigns c ON c.id = campaign_recipients.campaign_id
     WHERE ${match}
     LIMIT 1`;
  if (row && TERMINAL.has(row.status)) {
    // Duplicate or out-of-order: the first final report won; this one is done.
    await markEventOutcome(deps.db, event.id, 'processed', row.shop_id);
    return 'processed';
  }
  if (row?.status === 'unknown' && row.segments === null && report.status === 'delivered') {
    // Nothing can make it applicable: a delivered row must know its billed segments.
    await markEventOutcome(deps.db, event.id, 'ignored', row.shop_id);
    return 'ignored';
  }
  if (!row && recipientId !== null) {
    // Our reference names a row that is no more (its campaign's recipients pruned past the retention, or the
    // campaign or shop deleted): nothing will ever apply it, so it is not retried.
    const [gone] = await deps.db.$queryRaw<{ gone: boolean }[]>`
      SELECT NOT EXISTS (SELECT 1 FROM campaign_recipients WHERE id = ${recipientId}::bigint) AS gone`;
    if (gone?.gone) {
      await markEventOutcome(deps.db, event.id, 'ignored');
      return 'ignored';
    }
  }
  throw new WebhookNotReadyError(row ? `recipient is still ${row.status}` : 'no recipient has this provider message id yet');
};
