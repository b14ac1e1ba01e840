import { SCHEDULER_IDS } from '../../../queue/job-ids';
import type { QueueSet } from '../../../queue/connection';
import type { Config } from '../../../lib/config';

/**
 * Repeating jobs as BullMQ job schedulers with stable ids: every worker
 * process upserts the same ids, so deploys and N workers never duplicate them.
 */
export async function upsertSchedulers(queues: QueueSet, config: Pick<Config, 'RECONCILE_EVERY_MS'>): Promise<void> {
  const maintenance = queues.get('maintenance');
  const traceId = 'scheduler';
  await maintenance.upsertJobScheduler(SCHEDULER_IDS.outbox, { every: 5_000 }, { name: 'outbox.dispatch.v1', data: { traceId } });
  await maintenance.upsertJobScheduler(SCHEDULER_IDS.reconcile, { every: config.RECONCILE_EVERY_MS }, { name: 'reconcile.run.v1', data: { traceId } });
  await maintenance.upsertJobScheduler(SCHEDULER_IDS.idempotencyCleanup, { every: 15 * 60_000 }, { name: 'idempotency.cleanup.v1', data: { traceId } });
}
