import { repairKeywordReplies } from '../compliance/repair-keyword-replies';
import type { Logger } from 'pino';
import { empty, sql, type Db } from '../../lib/db';
import type { RedisClient } from '../../lib/redis';
import type { Metrics } from '../../lib/metrics';
import type { QueueSet } from '../../queue/connection';
import { ensureJob } from '../../queue/ensure-job';
import { jobIds } from '../../queue/job-ids';
import type { Producer } from '../../queue/producer';
import { markBatchDoneIfFinished } from '../campaigns/batch-progress';
import { batchPriorities } from '../campaigns/batch-priorities';
import { batchHasOpenRowsSql, campaignHasOpenRowsSql } from '../campaigns/batch-rows';
import { completeCampaignIfDone } from '../campaigns/complete-campaign';
import { deleteExpiredIdempotencyKeys } from '../idempotency/cleanup';
import { dispatchOutbox } from '../outbox/outbox';
import { WEBHOOK_JOB_ATTEMPTS } from '../webhooks/enqueue-event-job';
import { requeueStuckWebhookEvents } from '../webhooks/requeue-stuck-events';
import { readDbGauges, setDbGauges } from '../ops/db-gauges';
import { checkLedgerSinceCheckpoints } from './ledger-checkpoints';
import { passSteps, ReconciliationStepsFailed } from './pass-steps';
import { pruneDeadOutbox, pruneDeliveryReportKeys, pruneFinishedWebhookEvents, prunePublishedOutbox } from './prune-finished-rows';
import { FROM_OLDEST, redisPassCursors, scanRotating } from './pass-cursor';
import { releaseOrphanedReservations } from './release-orphaned-reservations';
import { repairStuckImports } from './repair-stuck-imports';
import { repairStuckSyncs } from './repair-stuck-syncs';
import { requeueConsentWritebacks } from './requeue-consent-writebacks';
import { requeueShopErasures } from './requeue-shop-erasures';
import { requeueFlowDeletions } from './requeue-flow-deletions';
import { queueRecipientPruning } from './queue-recipient-pruning';
import { clearAbandonedFlowClaims, republishFlowTriggers, settleOrphanedFlowMessages } from './repair-flows';

// One reconciliation pass repairs what a crash left behind. Every kind is
// bounded (rows per pass), idempotent (a second pass finds nothing to do), and
// counted in reconciliation_repairs_total{kind}. A scan whose candidates stay
// candidates while their job is alive resumes where the previous pass stopped
// (pass-cursor.ts), so the whole set is covered over passes. Money is never
// "fixed": the ledger check only reports. Steps are independent: one that
// throws is logged and counted (reconciliation_step_failures_total{step}) and
// the others still run; the pass then throws ReconciliationStepsFailed, so the
// job fails as a pass that did not complete always has (pass-steps.ts).

export const REPAIR_KINDS = [
  'stale_lease',
  'batch_job_missing',
  'batch_marked_done',
  'campaign_completed',
  'launch_requeued',
  'schedule_due',
  'outbox_published',
  'reservation_released',
  'webhook_requeued',
  'idempotency_keys_deleted',
  'webhook_events_pruned',
  'delivery_report_keys_pruned',
  'outbox_pruned',
  'outbox_dead_pruned',
  'import_requeued',
  'import_failed',
  'shop_sync_requeued',
  'shop_sync_failed',
  'keyword_reply_requeued',
  'keyword_reply_expired',
  'flow_trigger_republished',
  'flow_trigger_consumed',
  'flow_claim_cleared',
  'flow_message_settled',
  'shop_erasure_requeued',
  'flow_deletion_requeued',
  'recipient_pruning_queued',
  'consent_writeback_requeued',
] as const;
export type RepairKind = (typeof REPAIR_KINDS)[number];

export interface ReconcileDeps {
  db: Db;
  /** Where each step's scan resumes (pass-cursor.ts). */
  redis: RedisClient;
  queues: QueueSet;
  producer: Producer;
  metrics: Metrics;
  logger: Logger;
  now: () => Date;
  config: { STUCK_AFTER_MS: number; SEND_LEASE_MS: number; WEBHOOK_RETENTION_MS: number; OUTBOX_RETENTION_MS: number; OUTBOX_DEAD_RETENTION_MS: number; RECIPIENT_RETENTION_DAYS: number };
}

export interface ReconcileOptions {
  /** Limit the campaign repairs to one campaign (the on-call `campaign:reconcile`). */
  campaignId?: string;
  /** Rows per kind per pass. */
  limit?: number;
}

export interface ReconcileReport {
  repairs: Record<RepairKind, number>;
  campaignsStuck: number;
  ledgerMismatches: { shopId: string; balance: number; ledgerSum: number; reserved: number; activeReservations: number }[];
  durationMs: number;
}

// Longer than the outbox dispatcher's retries (every 5 s) take to publish a fresh request's job.
const SHOP_ERASURE_QUIET_MS = 5 * 60_000;
const FLOW_DELETION_QUIET_MS = 5 * 60_000;
// Each job reads its campaign's rows twice (the freeze) before deleting them: a few new ones per pass keep the maintenance queue free.
const RECIPIENT_PRUNING_PER_PASS = 20;

export async function runReconciliation(deps: ReconcileDeps, opts: ReconcileOptions = {}): Promise<ReconcileReport> {
  const started = Date.now();
  const now = deps.now();
  const limit = opts.limit ?? 200;
  const only = opts.campaignId ?? null;
  const repairs = Object.fromEntries(REPAIR_KINDS.map((k) => [k, 0])) as Record<RepairKind, number>;
  const count = (kind: RepairKind, n: number): void => {
    if (n <= 0) return;
    repairs[kind] += n;
    deps.metrics.reconciliationRepairs.inc({ kind }, n);
  };

  const cursors = redisPassCursors(deps.redis, deps.queues.prefix);
  // Each step on its own: one that throws is logged and counted, and the rest still run (pass-steps.ts).
  const steps = passSteps(deps);

  // 1. Batches with work left but no live job: stale claims (a worker died
  //    between claim and settle: the batch's claim, or a row's own, has run
  //    out) and pending rows whose job was lost. The batch job itself decides,
  //    by the provider's dedup capability, whether what a stale claim may have
  //    sent is re-sent with the same reference or marked unknown. A batch
  //    whose recipients wait for their quiet hours is not stuck: its job,
  //    if lost, is added back delayed to when the first of them may be sent.
  //    Pending batches whose job is alive stay candidates (a big campaign's
  //    backlog, quiet-hours waits): each pass resumes where the last stopped.
  await steps.run('send_batches', async () => {
    const batches = await scanRotating(
      cursors,
      only ? `send-batches:${only}` : 'send-batches',
      limit,
      (after, n) => deps.db.$queryRaw<
        { campaign_id: string; shop_id: string; trace_id: string | null; batch_no: number; updated_at: Date; stale: boolean; open: boolean; not_before: Date | null }[]
      >`
      SELECT b.campaign_id, c.shop_id, c.trace_id, b.batch_no, b.updated_at, b.not_before,
             (b.claim_token IS NOT NULL AND b.lease_until < ${now})
               OR EXISTS (SELECT 1 FROM campaign_recipients r WHERE r.campaign_id = b.campaign_id AND r.batch_no = b.batch_no
                             AND r.status = 'sending' AND r.lease_until < ${now}) AS stale,
             ${batchHasOpenRowsSql('b')} AS open
        FROM campaign_batches b JOIN campaigns c ON c.id = b.campaign_id
       WHERE b.status = 'pending' AND (${only}::uuid IS NULL OR b.campaign_id = ${only}::uuid)
         -- A cancelled campaign's unclaimed batches still hold the pending rows their jobs cancel (cancel-campaign.ts).
         AND (c.status IN ('sending', 'cancelled') OR b.claim_token IS NOT NULL
              OR EXISTS (SELECT 1 FROM campaign_recipients r WHERE r.campaign_id = b.campaign_id AND r.batch_no = b.batch_no AND r.status = 'sending'))
         ${after ? sql`AND b.updated_at >= ${after[0]}::timestamptz AND (b.updated_at, b.campaign_id, b.batch_no) > (${after[0]}::timestamptz, ${after[1]}::uuid, ${after[2]}::int)` : empty}
       ORDER BY b.updated_at, b.campaign_id, b.batch_no
       LIMIT ${n}`,
      (b) => [b.updated_at.toISOString(), b.campaign_id, String(b.batch_no)],
    );
    // A re-added job takes its batch's place in its shop's queue now (fair
    // sharing), not the front of the queue nor the back.
    const open = new Map<string, { shopId: string; batchNos: number[] }>();
    for (const b of batches.filter((x) => x.open)) {
      const of = open.get(b.campaign_id) ?? { shopId: b.shop_id, batchNos: [] };
      of.batchNos.push(b.batch_no);
      open.set(b.campaign_id, of);
    }
    const places = new Map<string, number>();
    for (const [campaignId, of] of open) {
      for (const p of await batchPriorities(deps.db, { campaignId, ...of })) places.set(`${campaignId}:${p.batchNo}`, p.priority);
    }
    for (const b of batches) {
      if (!b.open) {
        if (await markBatchDoneIfFinished(deps.db, { campaignId: b.campaign_id, batchNo: b.batch_no, now })) count('batch_marked_done', 1);
        continue;
      }
      const waitMs = !b.stale && b.not_before ? b.not_before.getTime() - now.getTime() : 0;
      const outcome = await ensureJob(
        deps.queues,
        'campaign.send-batch.v1',
        jobIds.sendBatch(b.campaign_id, b.batch_no),
        { traceId: b.trace_id ?? `reconcile-${b.campaign_id}`, campaignId: b.campaign_id, shopId: b.shop_id, batchNo: b.batch_no },
        { ...(waitMs > 0 ? { delay: waitMs } : {}), priority: places.get(`${b.campaign_id}:${b.batch_no}`) },
      );
      if (outcome !== 'live') count(b.stale ? 'stale_lease' : 'batch_job_missing', 1);
    }
  }, undefined);

  // 2. Campaigns whose recipients are all terminal but that never completed.
  await steps.run('campaigns_completed', async () => {
    const finished = await deps.db.$queryRaw<{ id: string; trace_id: string | null }[]>`
      SELECT c.id, c.trace_id FROM campaigns c
       WHERE (${only}::uuid IS NULL OR c.id = ${only}::uuid)
         AND ((c.status = 'sending' AND NOT c.materialising) OR (c.status IN ('cancelled', 'failed')
               AND EXISTS (SELECT 1 FROM credit_reservations r WHERE r.campaign_id = c.id AND r.status = 'active')))
         AND NOT ${campaignHasOpenRowsSql(sql`c.id`)}
         AND EXISTS (SELECT 1 FROM campaign_batches b WHERE b.campaign_id = c.id)
       ORDER BY c.last_activity_at
       LIMIT ${limit}`;
    for (const c of finished) {
      const res = await completeCampaignIfDone(deps.db, { campaignId: c.id, now, traceId: c.trace_id ?? undefined });
      if (res.completed || res.released > 0) count('campaign_completed', 1);
    }
  }, undefined);

  // 3. Campaigns that should be launching: due schedules, queued ones whose
  //    launch job was lost, and launches stopped half-way (chunks still to
  //    insert; each chunk bumps last_activity_at): quiet for longer than a
  //    lease. The launch resumes from the campaign's cursor.
  await steps.run('launches', async () => {
    const quietSince = new Date(now.getTime() - deps.config.SEND_LEASE_MS);
    // Queued and due campaigns waiting behind a launch backlog stay candidates: the scan rotates (pass-cursor.ts).
    const launchable = await scanRotating(
      only ? FROM_OLDEST : cursors,
      'launches',
      limit,
      (after, n) => deps.db.$queryRaw<{ id: string; shop_id: string; trace_id: string | null; status: string; last_activity_at: Date }[]>`
      SELECT c.id, c.shop_id, c.trace_id, c.status, c.last_activity_at FROM campaigns c
       WHERE (${only}::uuid IS NULL OR c.id = ${only}::uuid)
         AND ((c.status = 'scheduled' AND c.scheduled_at <= ${now})
              OR (c.status = 'queued' AND c.last_activity_at < ${quietSince})
              OR (c.status = 'sending' AND c.materialising AND c.last_activity_at < ${quietSince}))
         ${after ? sql`AND (c.last_activity_at, c.id) > (${after[0]}::timestamptz, ${after[1]}::uuid)` : empty}
       ORDER BY c.last_activity_at, c.id
       LIMIT ${n}`,
      (c) => [c.last_activity_at.toISOString(), c.id],
    );
    for (const c of launchable) {
      const outcome = await ensureJob(deps.queues, 'campaign.launch.v1', jobIds.launch(c.id), {
        traceId: c.trace_id ?? `reconcile-${c.id}`,
        campaignId: c.id,
        shopId: c.shop_id,
      });
      if (outcome !== 'live') count(c.status === 'scheduled' ? 'schedule_due' : 'launch_requeued', 1);
    }
  }, undefined);

  if (!only) {
    // 4. Outbox rows a crash left unpublished (the dispatcher runs every few seconds; older than 30 s is a repair).
    await steps.run('outbox', async () => {
      const [oldOutbox] = await deps.db.$queryRaw<{ n: bigint }[]>`
        SELECT count(*) AS n FROM outbox_events
         WHERE published_at IS NULL AND dead_at IS NULL AND available_at < ${new Date(now.getTime() - 30_000)}
           AND (next_attempt_at IS NULL OR next_attempt_at <= ${now})`;
      // A poison row is recorded and skipped; the step fails only when a publish fails otherwise (Redis down).
      if (Number(oldOutbox?.n ?? 0) > 0) {
        count('outbox_published', await dispatchOutbox(deps.db, deps.producer, { limit, now, metrics: deps.metrics, logger: deps.logger }));
      }
    }, undefined);

    // 5. Reservations nothing will consume any more.
    await steps.run('reservations', async () => count('reservation_released', await releaseOrphanedReservations(deps.db, { now, limit })), undefined);

    // 6. Webhook events still `received` (their job never added, or lost) under the job's attempts. `failed`
    //    ones are final until an operator replays them (`webhook:replay --failed`): a poison event would loop.
    await steps.run('webhook_events', async () => {
      const requeued = await requeueStuckWebhookEvents(
        { db: deps.db, queues: deps.queues, producer: deps.producer },
        { olderThanMs: 60_000, maxAttempts: WEBHOOK_JOB_ATTEMPTS, limit, now, cursors },
      );
      count('webhook_requeued', requeued.requeued);
    }, undefined);

    // 7. Expired idempotency keys, in bounded batches.
    await steps.run('idempotency_keys', async () => count('idempotency_keys_deleted', await deleteExpiredIdempotencyKeys(deps.db, { now, batchSize: 1_000, maxBatches: 10 })), undefined);

    // 8. Retention: finished webhook events, published outbox rows and dead outbox rows past their age.
    const prune = { batchSize: 5_000, maxBatches: 10 };
    await steps.run('webhook_events_retention', async () => {
      count('webhook_events_pruned', await pruneFinishedWebhookEvents(deps.db, { ...prune, before: new Date(now.getTime() - deps.config.WEBHOOK_RETENTION_MS) }));
    }, undefined);
    await steps.run('delivery_report_keys_retention', async () => {
      count('delivery_report_keys_pruned', await pruneDeliveryReportKeys(deps.db, { ...prune, before: new Date(now.getTime() - deps.config.WEBHOOK_RETENTION_MS) }));
    }, undefined);
    await steps.run('outbox_retention', async () => {
      count('outbox_pruned', await prunePublishedOutbox(deps.db, { ...prune, before: new Date(now.getTime() - deps.config.OUTBOX_RETENTION_MS) }));
    }, undefined);
    // Dead outbox events nobody requeued within OUTBOX_DEAD_RETENTION_MS: their work is given up, so each is named in the log.
    await steps.run('outbox_dead_retention', async () => {
      const pruned = await pruneDeadOutbox(deps.db, { ...prune, before: new Date(now.getTime() - deps.config.OUTBOX_DEAD_RETENTION_MS) });
      if (pruned.length === 0) return;
      count('outbox_dead_pruned', pruned.length);
      const byType: Record<string, number> = {};
      for (const r of pruned) byType[r.eventType] = (byType[r.eventType] ?? 0) + 1;
      deps.logger.warn(
        { pruned: pruned.length, byType, outboxIds: pruned.slice(0, 100).map((r) => r.id), oldestDeadAt: pruned[0]!.deadAt.toISOString(), retentionMs: deps.config.OUTBOX_DEAD_RETENTION_MS },
        'dead outbox events pruned past their retention (docs/runbooks/outbox.md)',
      );
    }, undefined);

    // 9. Contact imports whose job died with them: resumed, or failed (staged rows deleted) past their attempts.
    await steps.run('imports', async () => {
      const imports = await repairStuckImports({ db: deps.db, queues: deps.queues }, { now, quietMs: 60_000, limit, cursors });
      count('import_requeued', imports.requeued);
      count('import_failed', imports.failed);
    }, undefined);

    // 10. Customer syncs whose job died: resumed (poll or apply from the cursor), or failed past 24 hours.
    await steps.run('shop_syncs', async () => {
      const syncs = await repairStuckSyncs({ db: deps.db, queues: deps.queues, metrics: deps.metrics }, { now, quietMs: 5 * 60_000, limit, cursors });
      count('shop_sync_requeued', syncs.requeued);
      count('shop_sync_failed', syncs.failed);
    }, undefined);

    // 11. Keyword replies left open (job lost, worker died): their job back, or given up after an hour.
    await steps.run('keyword_replies', async () => {
      const replies = await repairKeywordReplies({ db: deps.db, queues: deps.queues }, { now, limit, cursors });
      count('keyword_reply_requeued', replies.requeued);
      count('keyword_reply_expired', replies.expired);
    }, undefined);

    // 12. Flow trigger events published but never consumed (job lost with Redis, or failed past its attempts): their jobs again.
    await steps.run('flow_triggers', async () => {
      const triggers = await republishFlowTriggers({ db: deps.db, queues: deps.queues }, { now, limit, cursors });
      count('flow_trigger_republished', triggers.republished);
      count('flow_trigger_consumed', triggers.consumed);
    }, undefined);

    // 13. Flow runs still claimed an hour after their lease ended (a paused flow's runs keep a dead worker's claim): cleared.
    await steps.run('flow_claims', async () => count('flow_claim_cleared', await clearAbandonedFlowClaims(deps.db, { now, limit })), undefined);

    // 14. Flow messages left sending by a dead attempt whose run has ended or moved on since: unknown (or failed when certainly not sent).
    await steps.run('flow_messages', async () => count('flow_message_settled', await settleOrphanedFlowMessages(deps.db, { now, limit })), undefined);

    // 15. Shop erasures (shop/redact) still unfinished minutes after their request: their job again.
    await steps.run('shop_erasures', async () => {
      count('shop_erasure_requeued', await requeueShopErasures({ db: deps.db, queues: deps.queues }, { now, quietMs: SHOP_ERASURE_QUIET_MS, limit }));
    }, undefined);

    // 16. Deleted flows still present minutes after their DELETE: their history job again.
    await steps.run('flow_deletions', async () => {
      count('flow_deletion_requeued', await requeueFlowDeletions({ db: deps.db, queues: deps.queues }, { now, quietMs: FLOW_DELETION_QUIET_MS, limit }));
    }, undefined);

    // 17. Campaigns finished longer ago than the recipient retention and not yet pruned: their pruning job (first time, or again).
    await steps.run('recipient_pruning', async () => {
      count(
        'recipient_pruning_queued',
        await queueRecipientPruning({ db: deps.db, queues: deps.queues }, { now, retentionDays: deps.config.RECIPIENT_RETENTION_DAYS, limit: RECIPIENT_PRUNING_PER_PASS }),
      );
    }, undefined);

    // 18. Consent write-backs to Shopify still pending minutes after their change (the published job lost): their job again.
    await steps.run('consent_writebacks', async () => {
      count('consent_writeback_requeued', await requeueConsentWritebacks({ db: deps.db, queues: deps.queues }, { now, limit, cursors }));
    }, undefined);
  }

  // Gauges: stuck campaigns, active reservations, pending outbox, ledger mismatches.
  const stuckBefore = new Date(now.getTime() - deps.config.STUCK_AFTER_MS);
  const campaignsStuck = await steps.run('gauges', async () => {
    const gauges = await readDbGauges(deps.db, stuckBefore, now, { retentionDays: deps.config.RECIPIENT_RETENTION_DAYS });
    setDbGauges(deps.metrics, gauges);
    return gauges.campaignsStuck;
  }, 0);

  // Only what changed since the last pass is summed (ledger-checkpoints.ts); `ops wallet:verify` sums everything.
  const ledger = only ? null : await steps.run('ledger', () => checkLedgerSinceCheckpoints(deps.db), null);
  const ledgerMismatches = ledger?.mismatches ?? [];
  if (ledger) {
    // A deleted ledger row is as much an incident as a wallet off its ledger.
    deps.metrics.creditLedgerMismatches.set(new Set([...ledger.mismatches.map((m) => m.shopId), ...ledger.gaps]).size);
    for (const m of ledger.mismatches) deps.logger.error({ ...m }, 'credit ledger mismatch: wallet disagrees with ledger or reservations');
    for (const shopId of ledger.gaps) deps.logger.error({ shopId }, 'credit ledger gap: a ledger_seq of the shop has no row (a ledger row was deleted)');
    if (ledger.behind > 0) deps.logger.info({ behind: ledger.behind }, 'credit ledger check catching up: shops not compared this pass');
  }

  const total = Object.values(repairs).reduce((a, b) => a + b, 0);
  if (total > 0 || campaignsStuck > 0) deps.logger.warn({ repairs, campaignsStuck }, 'reconciliation repaired state');
  const report: ReconcileReport = { repairs, campaignsStuck, ledgerMismatches, durationMs: Date.now() - started };
  // A pass with a failed step is not a completed pass: the job fails (and is retried) as before, once every step has had its turn.
  if (steps.failures.length > 0) throw new ReconciliationStepsFailed(steps.failures, report);
  deps.metrics.reconciliationRuns.inc();
  return report;
}
