import { ALL_JOBS, type JobName } from '../../../queue/names';
import type { JobHandler } from './processors/types';
import { outboxDispatchHandler } from './processors/outbox-dispatch.processor';
import { idempotencyCleanupHandler } from './processors/idempotency-cleanup.processor';
import { reconcileRunHandler } from './processors/reconcile-run.processor';
import { campaignLaunchHandler } from './processors/campaign-launch.processor';
import { campaignSendBatchHandler } from './processors/campaign-send-batch.processor';
import { contactsImportHandler } from './processors/contacts-import.processor';
import { webhookProcessHandler } from './processors/webhook-process.processor';
import { webhookDeliveryReportsHandler } from './processors/webhook-delivery-reports.processor';
import { webhookEventsHandler } from './processors/webhook-events.processor';
import { consentWritebackHandler } from './processors/consent-writeback.processor';
import { keywordReplyHandler } from './processors/keyword-reply.processor';
import { shopSyncHandler } from './processors/shop-sync.processor';
import { flowsTriggerHandler } from './processors/flows-trigger.processor';
import { flowsDueHandler } from './processors/flows-due.processor';
import { flowsStepsHandler } from './processors/flows-steps.processor';
import { shopEraseHandler } from './processors/shop-erase.processor';
import { flowsDeleteHandler } from './processors/flows-delete.processor';
import { campaignsPruneRecipientsHandler } from './processors/campaigns-prune-recipients.processor';

// Every handler the worker knows. Add one line per new job name.
export const HANDLERS: JobHandler[] = [
  outboxDispatchHandler,
  idempotencyCleanupHandler,
  reconcileRunHandler,
  campaignLaunchHandler,
  campaignSendBatchHandler,
  contactsImportHandler,
  webhookProcessHandler,
  webhookDeliveryReportsHandler,
  webhookEventsHandler,
  consentWritebackHandler,
  shopSyncHandler,
  keywordReplyHandler,
  flowsTriggerHandler,
  flowsDueHandler,
  flowsStepsHandler,
  shopEraseHandler,
  flowsDeleteHandler,
  campaignsPruneRecipientsHandler,
] as JobHandler[];

/** Start-up check: every job name has exactly one handler, and no handler is for an unknown name. */
export function checkHandlers(handlers: JobHandler[], jobs: readonly JobName[] = ALL_JOBS): Map<JobName, JobHandler> {
  const problems: string[] = [];
  const byName = new Map<JobName, JobHandler>();
  for (const h of handlers) {
    if (!jobs.includes(h.name)) problems.push(`handler for unknown job ${h.name}`);
    else if (byName.has(h.name)) problems.push(`two handlers for ${h.name}`);
    else byName.set(h.name, h);
  }
  for (const name of jobs) if (!byName.has(name)) problems.push(`no handler for ${name}`);
  if (problems.length > 0) throw new Error(`Job handler registry is inconsistent:\n  - ${problems.join('\n  - ')}`);
  return byName;
}
