import { Worker, type Job, type WorkerOptions } from 'bullmq';
import { runWithContext } from '../../../lib/context';
import { jobsOfQueue, type JobName, type QueueName } from '../../../queue/names';
import { queueOptions } from '../../../queue/connection';
import { parsePayload } from '../../../queue/payloads';
import type { WorkerDeps } from './deps';
import type { JobHandler } from './processors/types';
import { startFetchWatchdog, trackFetches, type FetchTracker } from './fetch-watchdog';
import { checkHandlers } from './registry';

export interface WorkerHost {
  readonly workers: Worker[];
  close(timeoutMs?: number): Promise<void>;
}

/** Per-queue tuning: concurrency and, for sends, the provider's rate limit. */
export function optionsFor(queue: QueueName, deps: Pick<WorkerDeps, 'config'>): Partial<WorkerOptions> {
  switch (queue) {
    case 'sends':
      // SMS_PROVIDER_MPS is enforced in segments by the provider wrapper
      // (limited-provider.ts), shared by every worker. This job ceiling never
      // binds before it (every send costs at least one segment); it is here
      // because BullMQ honours a provider's 429 pause (worker.rateLimit) only
      // on a queue with a limiter.
      return { concurrency: deps.config.SEND_BATCH_CONCURRENCY, limiter: { max: deps.config.SMS_PROVIDER_MPS, duration: 1_000 } };
    case 'webhooks':
      return { concurrency: 32 };
    case 'campaigns':
      return { concurrency: 2 };
    case 'imports':
      // One import at a time per process: each holds a chunk in memory and a
      // pool connection, and sends and webhooks share the process.
      return { concurrency: 1 };
    case 'shopify':
      // Admin API calls: Shopify's per-shop cost bucket, not our CPU, is the
      // limit; a few at a time keep one busy shop from throttling itself.
      return { concurrency: 4 };
    default:
      return { concurrency: 4 };
  }
}

export interface WorkerHostOptions {
  /** Override of WORKER_FETCH_STUCK_MS and the watchdog's check interval (tests). */
  watchdog?: { stuckAfterMs: number; everyMs: number };
}

/**
 * Starts one BullMQ worker per queue. Refuses to start when the handler
 * registry is inconsistent. Every job runs inside a context carrying its
 * trace id and job id, and is timed into job_duration_seconds. A worker whose
 * fetch of its next job stays stuck while Redis answers is replaced by a new
 * one (fetch-watchdog.ts).
 */
export function startWorkers(deps: WorkerDeps, queues: QueueName[], handlers: JobHandler[], opts: WorkerHostOptions = {}): WorkerHost {
  const byName = checkHandlers(handlers);
  const make = (queue: QueueName): { worker: Worker; tracker: FetchTracker } => {
    const accepted = new Set<JobName>(jobsOfQueue(queue));
    const self: { worker?: Worker } = {};
    const processor = async (job: Job, token?: string): Promise<unknown> => {
      const name = job.name as JobName;
      const handler = byName.get(name);
      if (!handler || !accepted.has(name)) throw new Error(`No handler for job ${job.name} on queue ${queue}`);
      const payload = parsePayload(name, job.data);
      const start = process.hrtime.bigint();
      let outcome = 'completed';
      try {
        return await runWithContext({ traceId: payload.traceId, requestId: payload.traceId, jobId: job.id, queue }, () =>
          handler.process(payload as never, { deps, job, token, worker: self.worker }),
        );
      } catch (err) {
        const errName = (err as Error)?.name;
        // A rate-limit pause or a deliberate delay (quiet hours, schedule) is not a failure.
        outcome = errName === 'RateLimitError' ? 'rate_limited' : errName === 'DelayedError' ? 'delayed' : 'failed';
        if (outcome === 'failed') deps.metrics.jobFailures.inc({ queue, job: name });
        throw err;
      } finally {
        deps.metrics.jobDuration.observe({ queue, job: name, outcome }, Number(process.hrtime.bigint() - start) / 1e9);
      }
    };
    const worker = new Worker(queue, processor, {
      ...queueOptions(deps.redis, deps.config.QUEUE_PREFIX, queue),
      ...optionsFor(queue, deps),
      autorun: false,
    });
    self.worker = worker;
    worker.on('failed', (job, err) => {
      deps.logger.warn({ jobId: job?.id, jobName: job?.name, queue, attempts: job?.attemptsMade, err: { message: err.message, name: err.name } }, 'job attempt failed');
    });
    worker.on('error', (err) => deps.logger.error({ queue, err: { message: err.message } }, 'worker error'));
    // Wrapped before the loop starts, so its first fetch is timed too.
    const tracker = trackFetches(worker);
    worker.run().catch((err: unknown) => deps.logger.error({ queue, err: { message: (err as Error).message } }, 'worker loop ended'));
    return { worker, tracker };
  };
  const live = queues.map((queue) => ({ queue, ...make(queue) }));

  const stopWatchdog = startFetchWatchdog({
    stuckAfterMs: opts.watchdog?.stuckAfterMs ?? deps.config.WORKER_FETCH_STUCK_MS,
    everyMs: opts.watchdog?.everyMs ?? 10_000,
    tracked: () => live,
    redisAnswers: () => answers(deps.redis),
    replace: async (queue, stuckForMs) => {
      const i = live.findIndex((l) => l.queue === queue);
      const old = live[i];
      if (!old) return;
      live[i] = { queue: old.queue, ...make(old.queue) };
      deps.metrics.workerFetchRestarts.inc({ queue });
      deps.logger.error({ queue, stuckForMs }, 'queue worker stuck fetching its next job; replaced by a new one');
      // Forced, and not awaited: a graceful close waits for the stuck loop.
      // Jobs it still held lose their lock renewals and come back as stalled;
      // every handler is idempotent.
      void old.worker.close(true).catch(() => undefined);
    },
  });

  return {
    get workers() {
      return live.map((l) => l.worker);
    },
    async close(timeoutMs = 10_000) {
      stopWatchdog();
      await closeWithin(live.map((l) => l.worker), timeoutMs);
    },
  };
}

/** Lets in-flight jobs finish; past the bound, force-closes (their locks expire and they are retried). */
async function closeWithin(workers: Worker[], timeoutMs: number): Promise<void> {
  const graceful = Promise.all(workers.map((w) => w.close()));
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref());
  if ((await Promise.race([graceful.then(() => 'ok' as const), timer])) === 'timeout') {
    await Promise.all(workers.map((w) => w.close(true)));
  }
}

/** A PING on the shared connection answered within a second. */
async function answers(redis: WorkerDeps['redis']): Promise<boolean> {
  const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), 1_000).unref());
  return Promise.race([redis.ping().then(() => true, () => false), timeout]);
}
