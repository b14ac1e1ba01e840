import type { JobsOptions } from 'bullmq';
import { JOB_QUEUE, type JobName } from './names';
import { jobPayloadSchemas, type JobPayload } from './payloads';
import type { QueueSet } from './connection';

// Bounded retries everywhere: no job retries forever.
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1_000, jitter: 0.5 },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/**
 * `advanceDelayed`: a job of that id already waiting, delayed until later than
 * this add asks, is brought forward to this add's delay (BullMQ otherwise
 * keeps the existing job as it is: a campaign moved to an earlier time would
 * still launch at the old one).
 */
export type AddOptions = JobsOptions & { jobId: string; advanceDelayed?: boolean };

export interface Producer {
  add<K extends JobName>(name: K, payload: JobPayload<K>, opts: AddOptions): Promise<void>;
  addBulk<K extends JobName>(name: K, jobs: { payload: JobPayload<K>; opts: JobsOptions & { jobId: string } }[]): Promise<void>;
}

/**
 * When a delayed job is due (ms since the epoch), read from its score in the
 * queue's delayed set (BullMQ scores it due-ms × 0x1000 plus a tie-breaker);
 * null when it is not delayed. Not the job's `timestamp + delay`: `timestamp`
 * is the time it was added, but `delay` counts from the last changeDelay or
 * moveToDelayed (a launch re-delaying itself to a later scheduled_at), so
 * that sum falls short by the time since the add, and a campaign moved
 * earlier a day after its enqueue still launched at its later time.
 */
async function delayedUntil(queue: ReturnType<QueueSet['get']>, jobId: string): Promise<number | null> {
  const client = await queue.getBackend().client;
  const score = await client.zscore(queue.toKey('delayed'), jobId);
  return score === null ? null : Math.floor(Number(score) / 0x1000);
}

/** Typed add: the payload is validated against its schema before it reaches Redis. */
export function createProducer(queues: QueueSet): Producer {
  return {
    async add(name, payload, opts) {
      const data = jobPayloadSchemas[name].parse(payload);
      const { advanceDelayed, ...jobOpts } = opts;
      const queue = queues.get(JOB_QUEUE[name]);
      await queue.add(name, data, { ...DEFAULT_JOB_OPTIONS, ...jobOpts });
      if (!advanceDelayed) return;
      const delay = jobOpts.delay ?? 0;
      const dueAt = await delayedUntil(queue, opts.jobId);
      // Not delayed (waiting, active, finished): it runs now or already ran, and its processor decides.
      if (dueAt === null || dueAt <= Date.now() + delay) return;
      // Taken by a worker meanwhile (no longer delayed): likewise.
      await (await queue.getJob(opts.jobId))?.changeDelay(delay).catch(() => undefined);
    },
    async addBulk(name, jobs) {
      if (jobs.length === 0) return;
      const schema = jobPayloadSchemas[name];
      await queues.get(JOB_QUEUE[name]).addBulk(
        jobs.map((j) => ({ name, data: schema.parse(j.payload), opts: { ...DEFAULT_JOB_OPTIONS, ...j.opts } })),
      );
    },
  };
}
