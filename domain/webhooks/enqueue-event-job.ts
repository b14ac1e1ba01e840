import { Batcher, batcherPer } from '../../lib/batcher';
import type { QueueSet } from '../../queue/connection';
import { jobIds } from '../../queue/job-ids';
import { JOB_QUEUE } from '../../queue/names';
import type { Producer } from '../../queue/producer';

// Ten attempts with the default exponential backoff (1 s doubling, jittered)
// span roughly 4–8 minutes: long enough for a delivery report that beat the
// send's settle, short enough that a real failure surfaces the same day.
export const WEBHOOK_JOB_ATTEMPTS = 10;

export function webhookTraceId(eventRowId: string, traceId?: string | null): string {
  return traceId ?? `webhook-${eventRowId}`;
}

type WebhookJob = { payload: { traceId: string; eventId: string }; opts: { jobId: string; attempts: number } };

// Concurrent ingests share one round trip to Redis (addBulk) instead of one each.
const jobBatcher = batcherPer(
  (producer: Producer) =>
    new Batcher(
      async (jobs: WebhookJob[]) => {
        await producer.addBulk('webhook.process.v1', jobs);
        return jobs.map(() => undefined);
      },
      { maxBatch: 200, concurrency: 2 },
    ),
);

/** Adds the processing job; the job id is derived from the row, so adding twice is a no-op. */
export async function enqueueWebhookJob(producer: Producer, eventRowId: string, traceId?: string | null): Promise<void> {
  await jobBatcher(producer).submit({
    payload: { traceId: webhookTraceId(eventRowId, traceId), eventId: eventRowId },
    opts: { jobId: jobIds.webhook(eventRowId), attempts: WEBHOOK_JOB_ATTEMPTS },
  });
}

export type EnsureOutcome = 'added' | 'retried' | 'exists';

/**
 * Makes sure a job will (re)process the row: adds it when BullMQ has none,
 * retries it when its job has failed, and replaces a finished one (a row
 * reset for replay). A job still waiting, delayed or active is left alone.
 * Racing callers are harmless: the id dedups adds, and a second retry of
 * the same job fails on BullMQ's state check and is ignored.
 */
export async function ensureWebhookJob(queues: QueueSet, producer: Producer, eventRowId: string, traceId?: string | null): Promise<EnsureOutcome> {
  const queue = queues.get(JOB_QUEUE['webhook.process.v1']);
  const job = await queue.getJob(jobIds.webhook(eventRowId));
  if (!job) {
    await enqueueWebhookJob(producer, eventRowId, traceId);
    return 'added';
  }
  const state = await job.getState();
  if (state === 'failed') {
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true }).catch(() => undefined);
    return 'retried';
  }
  if (state === 'completed') {
    await job.remove().catch(() => undefined);
    await enqueueWebhookJob(producer, eventRowId, traceId);
    return 'added';
  }
  return 'exists';
}
