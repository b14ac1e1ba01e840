import type { Config } from '../../../lib/config';
import { createDb } from '../../../lib/db';
import { createLogger } from '../../../lib/logger';
import { getMetrics } from '../../../lib/metrics';
import { createWorkerRedis } from '../../../lib/redis';
import { createQueueSet } from '../../../queue/connection';
import { createProducer } from '../../../queue/producer';
import type { WorkerDeps } from './deps';

export function buildWorkerDeps(config: Config, overrides: Partial<WorkerDeps> = {}): WorkerDeps {
  const logger = overrides.logger ?? createLogger({ level: config.LOG_LEVEL, name: 'worker' });
  const redis = overrides.redis ?? createWorkerRedis(config.REDIS_URL);
  redis.on('error', (err: Error) => logger.warn({ err: { message: err.message } }, 'redis connection error'));
  const queues = overrides.queues ?? createQueueSet(redis, config.QUEUE_PREFIX);
  return {
    config,
    db: overrides.db ?? createDb(config),
    redis,
    queues,
    producer: overrides.producer ?? createProducer(queues),
    logger,
    metrics: overrides.metrics ?? getMetrics(),
    now: overrides.now ?? (() => new Date()),
  };
}

export async function closeWorkerDeps(deps: WorkerDeps): Promise<void> {
  await deps.queues.close().catch(() => undefined);
  deps.redis.disconnect();
  await deps.db.$disconnect().catch(() => undefined);
}
