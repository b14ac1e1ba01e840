import type { Metrics } from '../lib/metrics';
import type { QueueSet } from './connection';
import { ALL_QUEUES } from './names';

const STATES = ['waiting', 'active', 'delayed', 'failed', 'prioritized', 'waiting-children'] as const;

/**
 * Reads queue depths into `queue_jobs{queue,state}` at scrape time, at most
 * once per `maxAgeMs` however often Prometheus (or several) scrape.
 */
export function createQueueGaugeRefresher(queues: QueueSet, metrics: Metrics, maxAgeMs = 1_000): () => Promise<void> {
  let last = 0;
  let inflight: Promise<void> | undefined;
  return async () => {
    if (Date.now() - last < maxAgeMs) return;
    inflight ??= (async () => {
      try {
        await Promise.all(
          ALL_QUEUES.map(async (name) => {
            const counts = await queues.get(name).getJobCounts(...STATES);
            for (const state of STATES) metrics.queueJobs.set({ queue: name, state }, counts[state] ?? 0);
          }),
        );
        last = Date.now();
      } finally {
        inflight = undefined;
      }
    })();
    await inflight;
  };
}
