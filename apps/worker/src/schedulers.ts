import { SCHEDULER_IDS } from '../../../queue/job-ids';
import type { QueueSet } from '../../../queue/connection';
import type { Config } from '../../../lib/config';
import type { WorkerDeps } from './deps';

/**
 * How often the due flow runs are polled. The poll is the wait between a run
 * coming due and its step (half of it on average): at 1 s it was most of a
 * welcome message's delay. An idle tick is one index probe that claims
 * nothing; a busy one queues behind the step jobs it made (docs/flows.md).
 */
export const FLOWS_DUE_EVERY_MS = 250;

/**
 * Repeating jobs as BullMQ job schedulers with stable ids: every worker
 * process upserts the same ids, so deploys and N workers never duplicate them.
 */
export async function upsertSchedulers(queues: QueueSet, config: Pick<Config, 'RECONCILE_EVERY_MS'>): Promise<void> {
  const maintenance = queues.get('maintenance');
  const traceId = 'scheduler';
  await maintenance.upsertJobScheduler(SCHEDULER_IDS.outbox, { every: 5_000 }, { name: 'outbox.dispatch.v1', data: { traceId } });
  await maintenance.upsertJobScheduler(SCHEDULER_IDS.reconcile, { every: config.RECONCILE_EVERY_MS }, { name: 'reconcile.run.v1', data: { traceId } });
  // Due flow runs live in Postgres (next_due_at); this only polls them, so a lost scheduler loses no run.
  await queues.get('flows').upsertJobScheduler(SCHEDULER_IDS.flowsDue, { every: FLOWS_DUE_EVERY_MS }, { name: 'flows.due.v1', data: { traceId } });
  await maintenance.upsertJobScheduler(SCHEDULER_IDS.idempotencyCleanup, { every: 15 * 60_000 }, { name: 'idempotency.cleanup.v1', data: { traceId } });
}

/**
 * Upserts the schedulers now and again on every reconnect. A Redis that comes
 * back empty (a restart without persistence, a failover to a fresh replica)
 * has lost them, and with them reconciliation, the one thing that re-derives
 * the lost jobs from Postgres; upserting is idempotent, so a reconnect to a
 * Redis that kept its data changes nothing. Returns the listener's remover.
 */
export async function keepSchedulers(
  deps: Pick<WorkerDeps, 'redis' | 'queues' | 'logger'>,
  config: Pick<Config, 'RECONCILE_EVERY_MS'>,
): Promise<() => void> {
  await upsertSchedulers(deps.queues, config);
  const onReady = (): void => {
    upsertSchedulers(deps.queues, config).catch((err: unknown) =>
      deps.logger.warn({ err: { message: (err as Error).message } }, 'could not restore the job schedulers after a Redis reconnect'),
    );
  };
  deps.redis.on('ready', onReady);
  return () => deps.redis.off('ready', onReady);
}
