// Deterministic job ids: the same logical work always gets the same id, so a
// duplicate add (retry, outbox republish, reconciliation) is a no-op in BullMQ.
// BullMQ reserves ':' in ids and treats all-digit ids as its own counters;
// every id here has a letter prefix and uses '-' only.

function safe(part: string | number): string {
  const s = String(part);
  if (!/^[A-Za-z0-9_-]+$/.test(s)) throw new Error(`job id part has unsafe characters: ${s}`);
  return s;
}

export const jobIds = {
  launch: (campaignId: string): string => `launch-${safe(campaignId)}`,
  sendBatch: (campaignId: string, batchNo: number): string => `batch-${safe(campaignId)}-${safe(batchNo)}`,
  webhook: (eventRowId: string): string => `webhook-${safe(eventRowId)}`,
  /** One drain of stored delivery reports per time slot (`slot` = its end, in ms since the epoch). */
  deliveryReports: (slot: number): string => `dlr-${safe(slot)}`,
  /** One drain of the other stored webhook events per time slot. */
  webhookEvents: (slot: number): string => `wh-${safe(slot)}`,
  contactsImport: (importId: string): string => `import-${safe(importId)}`,
  /** One write-back per consent record (a replayed change writes no record, so no job). */
  consentWriteback: (recordId: string): string => `consent-wb-${safe(recordId)}`,
  /** The sync's job (start, poll, apply); a delayed poll keeps this id. */
  shopSync: (syncId: string): string => `shop-sync-${safe(syncId)}`,
  /** Woken by the bulk_operations/finish webhook, beside a poll that may be waiting under shopSync's id. */
  shopSyncFinished: (syncId: string): string => `shop-sync-${safe(syncId)}-finished`,
  /** One send per keyword reply (the reply row is unique per inbound text). */
  keywordReply: (replyId: string): string => `kw-reply-${safe(replyId)}`,
  /** One job per flows.trigger.v1 outbox event (and part, when its consent records are split into jobs of ≤ 1 000). */
  flowsTrigger: (outboxId: string, part = 0): string => `flow-trigger-${safe(outboxId)}-${safe(part)}`,
  /** One step job per claim (the claim token is fresh per claim, so a re-claim after a lease is a new job). */
  flowSteps: (claimToken: string): string => `flow-steps-${safe(claimToken)}`,
  /** One erasure per shop, however often shop/redact arrives or reconciliation finds it unfinished. */
  shopErase: (shopId: string): string => `shop-erase-${safe(shopId)}`,
  /** One deletion per flow, however often it is queued (the request's outbox event, reconciliation). */
  flowDelete: (flowId: string): string => `flow-delete-${safe(flowId)}`,
  /** One pruning of a finished campaign's recipients, however often reconciliation finds it due. */
  pruneRecipients: (campaignId: string): string => `prune-recipients-${safe(campaignId)}`,
};

export const SCHEDULER_IDS = {
  reconcile: 'scheduler-reconcile',
  outbox: 'scheduler-outbox-dispatch',
  idempotencyCleanup: 'scheduler-idempotency-cleanup',
  flowsDue: 'scheduler-flows-due',
} as const;
