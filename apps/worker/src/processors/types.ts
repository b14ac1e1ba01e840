import type { Job, Worker } from 'bullmq';
import type { JobName } from '../../../../queue/names';
import type { JobPayload } from '../../../../queue/payloads';
import type { WorkerDeps } from '../deps';

export interface ProcessorContext {
  deps: WorkerDeps;
  job: Job;
  /** The BullMQ lock token, needed for worker.rateLimit / moveToDelayed. */
  token?: string;
  /** The BullMQ worker running the job (worker.rateLimit pauses its whole queue). */
  worker?: Worker;
}

/** A job definition and its handler: one processor per job name. */
export interface JobHandler<K extends JobName = JobName> {
  name: K;
  process(payload: JobPayload<K>, ctx: ProcessorContext): Promise<unknown>;
}

export function defineHandler<K extends JobName>(name: K, process: JobHandler<K>['process']): JobHandler<K> {
  return { name, process };
}
