import type { QueueSet } from './connection';
import { JOB_QUEUE, type JobName } from './names';
import type { JobPayload } from './payloads';
import { DEFAULT_JOB_OPTIONS } from './producer';
import { jobPayloadSchemas } from './payloads';

export type EnsureOutcome = 'live' | 'added' | 'readded';

const LIVE_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/**
 * Makes sure a job with this deterministic id is live. A missing job is added;
 * a finished (completed or failed) one is removed and added again, because
 * BullMQ ignores an add whose id still exists. Used by reconciliation, after
 * the database said there is still work for it.
 */
export async function ensureJob<K extends JobName>(
  queues: QueueSet,
  name: K,
  jobId: string,
  payload: JobPayload<K>,
  opts: { delay?: number; priority?: number } = {},
): Promise<EnsureOutcome> {
  const queue = queues.get(JOB_QUEUE[name]);
  const existing = await queue.getJob(jobId);
  let outcome: EnsureOutcome = 'added';
  if (existing) {
    const state = await existing.getState();
    if (LIVE_STATES.has(state)) return 'live';
    // A finished job can be locked for a moment by a worker; removal then fails and the next pass retries.
    await existing.remove();
    outcome = 'readded';
  }
  await queue.add(name, jobPayloadSchemas[name].parse(payload), { ...DEFAULT_JOB_OPTIONS, jobId, delay: opts.delay, priority: opts.priority });
  return outcome;
}

/** ensureJob for each of `jobs`, in turn; returns how many were not live (added or re-added). */
export async function ensureJobs<K extends JobName>(queues: QueueSet, name: K, jobs: { jobId: string; payload: JobPayload<K> }[]): Promise<number> {
  let ensured = 0;
  for (const j of jobs) if ((await ensureJob(queues, name, j.jobId, j.payload)) !== 'live') ensured++;
  return ensured;
}
