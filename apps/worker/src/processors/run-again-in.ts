import { DelayedError, type Job } from 'bullmq';

/** How long a job that used its time slice (a chunked deletion) gives its queue slot back before going on. */
export const SLICE_YIELD_MS = 500;

/**
 * Ends this run and puts the same job back to run in `ms`: no attempt is
 * spent and its id stays taken, so no second job for the same work starts
 * meanwhile. BullMQ leaves a job it moved only when the run throws its
 * DelayedError.
 */
export async function runAgainIn(job: Job, token: string | undefined, ms: number): Promise<never> {
  await job.moveToDelayed(Date.now() + Math.max(0, ms), token);
  throw new DelayedError();
}
