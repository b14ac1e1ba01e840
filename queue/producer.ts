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

export interface Producer {
  add<K extends JobName>(name: K, payload: JobPayload<K>, opts: JobsOptions & { jobId: string }): Promise<void>;
  addBulk<K extends JobName>(name: K, jobs: { payload: JobPayload<K>; opts: JobsOptions & { jobId: string } }[]): Promise<void>;
}

/** Typed add: the payload is validated against its schema before it reaches Redis. */
export function createProducer(queues: QueueSet): Producer {
  return {
    async add(name, payload, opts) {
      const data = jobPayloadSchemas[name].parse(payload);
      await queues.get(JOB_QUEUE[name]).add(name, data, { ...DEFAULT_JOB_OPTIONS, ...opts });
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
