import express, { Router } from 'express';
import { z } from 'zod';
import { AppError } from '../../../../lib/errors';
import { cancelCampaignByHand } from '../../../../domain/ops/cancel-campaign-by-hand';
import { inspectCampaign } from '../../../../domain/ops/inspect-campaign';
import { resolveUnknownRecipients } from '../../../../domain/ops/resolve-unknown';
import { releaseReservationByHand } from '../../../../domain/ops/release-reservation-by-hand';
import { deleteDeadOutboxEvent, parseOutboxId, requeueDeadOutboxEvent } from '../../../../domain/ops/dead-outbox-by-hand';
import { runReconciliation } from '../../../../domain/reconciliation/run-reconciliation';
import { REPLAY_FAILED_MAX, replayFailedWebhookEvents, replayWebhookEvent } from '../../../../domain/webhooks/replay-event';
import { toShopSyncView } from '../../../../domain/shop-sync/shop-sync-view';
import { startShopSync } from '../../../../domain/shop-sync/start-shop-sync';
import { currentTraceId } from '../../../../lib/context';
import { jobIds } from '../../../../queue/job-ids';
import type { ApiDeps } from '../deps';
import { parseBody, parseParams } from '../validation';
import { internalAuth, internalHeadersPresent } from './internal-auth';
import { EXACT_ROUTING } from '../router-options';
import { boundedBody, KiB } from '../middleware/body-limit';

// The signature covers the body, so it is read first: bounded, refused before reading when declared larger, and
// only for a request whose headers may pass (internalHeadersPresent).
const INTERNAL_BODY_LIMIT = 64 * KiB;

const idParams = z.object({ id: z.uuid() });
const reconcileBody = z.strictObject({ campaignId: z.uuid().optional() });
const replayFailedBody = z.strictObject({
  provider: z.string().min(1).max(64).optional(),
  topic: z.string().min(1).max(200).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  limit: z.number().int().min(1).max(REPLAY_FAILED_MAX).optional(),
});
const resolveUnknownBody = z.strictObject({ as: z.enum(['sent', 'failed']), dryRun: z.boolean() });
// Why is required: the log line is the only record of a by-hand cancel.
const cancelBody = z.strictObject({ reason: z.string().trim().min(1).max(500), operator: z.string().trim().min(1).max(100).optional() });
// Outbox ids are bigserial, not UUIDs. Why is required here too: the log line is the record.
const outboxParams = z.object({
  id: z.string().transform((v, ctx) => {
    const id = parseOutboxId(v);
    if (id === null) {
      ctx.addIssue({ code: 'custom', message: 'must be an outbox event id (a positive integer)' });
      return z.NEVER;
    }
    return id;
  }),
});
const deadOutboxBody = cancelBody;

async function jobState(deps: ApiDeps, queue: 'campaigns' | 'sends', id: string): Promise<string> {
  const job = await deps.queues.get(queue).getJob(id);
  return job ? await job.getState() : 'missing';
}

/**
 * The on-call surface (`npm run ops`). No session auth: every request is
 * HMAC-signed with INTERNAL_SIGNING_SECRET and usable once (nonce). Without the secret the routes do
 * not exist (404), rather than being open. Every operation is idempotent.
 */
export function internalRoutes(deps: ApiDeps): Router {
  const router = Router(EXACT_ROUTING);
  const secret = deps.config.INTERNAL_SIGNING_SECRET;
  if (!secret) return router;
  router.use(
    internalHeadersPresent(deps.now),
    boundedBody(express.raw({ type: () => true, limit: INTERNAL_BODY_LIMIT }), INTERNAL_BODY_LIMIT),
    internalAuth(secret, deps.now, { redis: deps.redis, prefix: deps.config.QUEUE_PREFIX }),
  );

  router.post('/reconcile', async (req, res) => {
    const body = parseBody(req, reconcileBody);
    const report = await runReconciliation(deps, { campaignId: body.campaignId });
    res.json({ repairs: report.repairs, campaignsStuck: report.campaignsStuck, ledgerMismatches: report.ledgerMismatches, durationMs: report.durationMs });
  });

  router.get('/campaigns/:id', async (req, res) => {
    const { id } = parseParams(req, idParams);
    const inspection = await inspectCampaign(deps.db, id, deps.now());
    if (!inspection) throw new AppError('NOT_FOUND', 'Campaign not found');
    const batchJobs = Object.fromEntries(
      await Promise.all(inspection.batches.pendingBatchNos.slice(0, 20).map(async (n) => [n, await jobState(deps, 'sends', jobIds.sendBatch(id, n))] as const)),
    );
    res.json({ ...inspection, jobs: { launch: await jobState(deps, 'campaigns', jobIds.launch(id)), pendingBatches: batchJobs } });
  });

  // The on-call's resync of a shop's customers (the same as POST /api/shop/sync): the running one if there is one.
  router.post('/shops/:id/sync', async (req, res) => {
    const { id } = parseParams(req, idParams);
    parseBody(req, z.strictObject({}));
    const [shop] = await deps.db.$queryRaw<{ id: string }[]>`SELECT id FROM shops WHERE id = ${id}::uuid AND status = 'active'`;
    if (!shop) throw new AppError('NOT_FOUND', 'No installed shop with this id');
    const { sync, created } = await startShopSync(deps.db, deps.producer, { shopId: id, traceId: currentTraceId() });
    res.status(created ? 202 : 200).json({ created, sync: toShopSyncView(sync) });
  });

  // Failed events are final until this: reconciliation never retries them (a poison event would loop).
  router.post('/webhooks/replay-failed', async (req, res) => {
    const body = parseBody(req, replayFailedBody);
    const result = await replayFailedWebhookEvents(deps, { provider: body.provider, topic: body.topic, since: body.since ? new Date(body.since) : undefined, limit: body.limit ?? 100 });
    deps.logger.warn({ ...body, requeued: result.requeued, more: result.more }, 'failed webhook events replayed by hand');
    res.json(result);
  });

  router.post('/webhooks/:id/replay', async (req, res) => {
    const { id } = parseParams(req, idParams);
    const outcome = await replayWebhookEvent(deps, id);
    if (outcome === 'not_found') throw new AppError('NOT_FOUND', 'Webhook event not found');
    res.json({ id, outcome });
  });

  // The merchant's cancel for the on-call, who holds no session of the shop (domain/ops/cancel-campaign-by-hand.ts).
  router.post('/campaigns/:id/cancel', async (req, res) => {
    const { id } = parseParams(req, idParams);
    const body = parseBody(req, cancelBody);
    res.json(await cancelCampaignByHand(deps.db, { campaignId: id, reason: body.reason, operator: body.operator, now: deps.now(), logger: deps.logger }));
  });

  // Never re-sends: settles what the provider's own records say became of a
  // campaign's ambiguous sends (sent: charged once; failed: free).
  router.post('/campaigns/:id/resolve-unknown', async (req, res) => {
    const { id } = parseParams(req, idParams);
    const body = parseBody(req, resolveUnknownBody);
    const result = await resolveUnknownRecipients(deps.db, { campaignId: id, as: body.as, dryRun: body.dryRun, logger: deps.logger });
    if (!result) throw new AppError('NOT_FOUND', 'Campaign not found');
    if (result.moved > 0) deps.metrics.smsUnknownResolved.inc({ via: 'operator', status: body.as }, result.moved);
    res.json(result);
  });

  // A dead outbox event put back for the dispatcher, or given up (domain/ops/dead-outbox-by-hand.ts).
  router.post('/outbox/:id/requeue', async (req, res) => {
    const { id } = parseParams(req, outboxParams);
    const body = parseBody(req, deadOutboxBody);
    res.json(await requeueDeadOutboxEvent(deps.db, { id, reason: body.reason, operator: body.operator, logger: deps.logger }));
  });

  router.post('/outbox/:id/delete', async (req, res) => {
    const { id } = parseParams(req, outboxParams);
    const body = parseBody(req, deadOutboxBody);
    res.json(await deleteDeadOutboxEvent(deps.db, { id, reason: body.reason, operator: body.operator, logger: deps.logger }));
  });

  // Only a reservation nothing will consume (domain/ops/release-reservation-by-hand.ts).
  router.post('/reservations/:id/release', async (req, res) => {
    const { id } = parseParams(req, idParams);
    const released = await releaseReservationByHand(deps.db, id);
    deps.logger.warn({ reservationId: id, released }, 'reservation released by hand');
    res.json({ id, released, status: 'closed' });
  });
  return router;
}
