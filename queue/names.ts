// Queue and job names. NEVER rename one: jobs already in Redis carry these
// names, and a renamed job would find no handler. Add a new versioned name
// (`.v2`) instead and keep the old handler until its queue drains.

export const QUEUES = {
  campaigns: 'campaigns',
  sends: 'sends',
  webhooks: 'webhooks',
  imports: 'imports',
  maintenance: 'maintenance',
  shopify: 'shopify',
  flows: 'flows',
} as const;

export type QueueKey = keyof typeof QUEUES;
export type QueueName = (typeof QUEUES)[QueueKey];

// A name joins this list in the same change as its processor: the worker
// refuses to start while any name here has no handler.
export const JOBS = {
  outboxDispatch: 'outbox.dispatch.v1',
  idempotencyCleanup: 'idempotency.cleanup.v1',
  reconcileRun: 'reconcile.run.v1',
  campaignLaunch: 'campaign.launch.v1',
  campaignSendBatch: 'campaign.send-batch.v1',
  contactsImport: 'contacts.import.v1',
  webhookProcess: 'webhook.process.v1',
  webhookDeliveryReports: 'webhook.delivery-reports.v1',
  webhookEvents: 'webhook.events.v1',
  consentWriteback: 'contact.consent-writeback.v1',
  shopSync: 'shop.sync.v1',
  keywordReply: 'keyword.reply.v1',
  flowsTrigger: 'flows.trigger.v1',
  flowsDue: 'flows.due.v1',
  flowsSteps: 'flows.steps.v1',
  shopErase: 'privacy.shop-erase.v1',
  flowsDelete: 'flows.delete.v1',
  campaignsPruneRecipients: 'campaigns.prune-recipients.v1',
} as const;

export type JobName = (typeof JOBS)[keyof typeof JOBS];

/** Which queue carries each job; the producer and the worker both read this. */
export const JOB_QUEUE: Record<JobName, QueueName> = {
  'outbox.dispatch.v1': QUEUES.maintenance,
  'idempotency.cleanup.v1': QUEUES.maintenance,
  'reconcile.run.v1': QUEUES.maintenance,
  'campaign.launch.v1': QUEUES.campaigns,
  'campaign.send-batch.v1': QUEUES.sends,
  'contacts.import.v1': QUEUES.imports,
  'webhook.process.v1': QUEUES.webhooks,
  'webhook.delivery-reports.v1': QUEUES.webhooks,
  'webhook.events.v1': QUEUES.webhooks,
  'contact.consent-writeback.v1': QUEUES.shopify,
  'shop.sync.v1': QUEUES.shopify,
  // A reply shares the provider's segments-per-second budget with campaign batches.
  'keyword.reply.v1': QUEUES.sends,
  // Starts flow runs (a set-based insert); the runs' steps are executed on this queue too (docs/flows.md).
  'flows.trigger.v1': QUEUES.flows,
  // The due-run scheduler (every second) and the step jobs of the runs it claims.
  'flows.due.v1': QUEUES.flows,
  'flows.steps.v1': QUEUES.flows,
  // Bulk deletes in short transactions; a run yields its slot every few seconds (domain/privacy/erase-shop.ts).
  'privacy.shop-erase.v1': QUEUES.maintenance,
  // A deleted flow's history, in the same kind of short chunks (domain/flows/erase-deleted-flow.ts); never on the flows queue's send path.
  'flows.delete.v1': QUEUES.maintenance,
  // Recipients of campaigns past RECIPIENT_RETENTION_DAYS, in the same kind of short chunks (domain/campaigns/prune-campaign-recipients.ts).
  'campaigns.prune-recipients.v1': QUEUES.maintenance,
};

export const ALL_QUEUES: QueueName[] = Object.values(QUEUES);
export const ALL_JOBS: JobName[] = Object.values(JOBS);

export function jobsOfQueue(queue: QueueName): JobName[] {
  return ALL_JOBS.filter((j) => JOB_QUEUE[j] === queue);
}

/** Parses WORKER_QUEUES ("all" or a comma list); unknown names are an error. */
export function parseWorkerQueues(value: string): QueueName[] {
  if (value.trim() === 'all') return [...ALL_QUEUES];
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !(ALL_QUEUES as string[]).includes(n));
  if (unknown.length > 0 || names.length === 0) {
    throw new Error(`WORKER_QUEUES: unknown queue(s) ${unknown.join(', ') || '(none given)'}; known: ${ALL_QUEUES.join(', ')}`);
  }
  return [...new Set(names)] as QueueName[];
}
