import { Worker, type Job, type WorkerOptions } from 'bullmq';
import { runWithContext } from '../../../lib/context';
import { jobsOfQueue, type JobName, type QueueName } from '../../../queue/names';
import { queueOptions } from '../../../queue/connection';
import { parsePayload } from '../../../queue/payloads';
import type { WorkerDeps } from './deps';
import type { JobHandler } from './processors/types';
import { checkHandlers } from './registry';

export interface WorkerHost {
  workers: Worker[];
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

/**
 * Starts one BullMQ worker per queue. Refuses to start when the handler
 * registry is inconsistent. Every job runs inside a context carrying its
 * trace id and job id, and is timed into job_duration_seconds.
 */
export function startWorkers(deps: WorkerDeps, queues: QueueName[], handlers: JobHandler[]): WorkerHost {
  const byName = checkHandlers(handlers);
  const workers = queues.map((queue) => {
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
    });
    self.worker = worker;
    worker.on('failed', (job, err) => {
      deps.logger.warn({ jobId: job?.id, jobName: job?.name, queue, attempts: job?.attemptsMade, err: { message: err.message, name: err.name } }, 'job attempt failed');
    });
    worker.on('error', (err) => deps.logger.error({ queue, err: { message: err.message } }, 'worker error'));
    return worker;
  });
  return {
    workers,
    async close(timeoutMs = 10_000) {
      // Let in-flight jobs finish; past the bound, force-close (their locks expire and they are retried).
      const graceful = Promise.all(workers.map((w) => w.close()));
      const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), timeoutMs).unref());
      if ((await Promise.race([graceful.then(() => 'ok' as const), timer])) === 'timeout') {
        await Promise.all(workers.map((w) => w.close(true)));
      }
    },
  };
}
