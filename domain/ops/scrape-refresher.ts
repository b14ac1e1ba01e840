import type { Config } from '../../lib/config';
import type { Db } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';
import { createDbGaugeRefresher } from './db-gauges';
import type { QueueSet } from '../../queue/connection';
import { createQueueGaugeRefresher } from '../../queue/gauges';

/** Gauges read at scrape time (queue depths, database counts), shared by the api and the worker. */
export function scrapeRefresher(deps: { db: Db; queues: QueueSet; metrics: Metrics; config: Pick<Config, 'STUCK_AFTER_MS' | 'RECIPIENT_RETENTION_DAYS'>; now: () => Date }): () => Promise<void> {
  const queues = createQueueGaugeRefresher(deps.queues, deps.metrics);
  const db = createDbGaugeRefresher(deps.db, deps.metrics, { stuckAfterMs: deps.config.STUCK_AFTER_MS, retentionDays: deps.config.RECIPIENT_RETENTION_DAYS, now: deps.now });
  return async () => {
    await Promise.allSettled([queues(), db()]);
  };
}
