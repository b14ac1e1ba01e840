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
      const existing = await queue.getJob(opts.jobId);
      if (!existing || existing.timestamp + existing.delay <= Date.now() + delay) return;
      // Taken by a worker meanwhile (no longer delayed): it runs now, earlier than asked, and its processor decides.
      await existing.changeDelay(delay).catch(() => undefined);
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
