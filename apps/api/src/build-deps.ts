import type { Config } from '../../../lib/config';
import { createDb } from '../../../lib/db';
import { createLogger } from '../../../lib/logger';
import { getMetrics } from '../../../lib/metrics';
import { readMigrationFiles } from '../../../lib/migrator';
import { createProducerRedis } from '../../../lib/redis';
import { createQueueSet } from '../../../queue/connection';
import { createProducer } from '../../../queue/producer';
import type { ApiDeps } from './deps';

export async function buildApiDeps(config: Config, overrides: Partial<ApiDeps> = {}): Promise<ApiDeps> {
  const logger = overrides.logger ?? createLogger({ level: config.LOG_LEVEL, name: 'api' });
  const redis = overrides.redis ?? createProducerRedis(config);
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
    migrations: overrides.migrations ?? (await readMigrationFiles()),
    now: overrides.now ?? (() => new Date()),
  };
}

export async function closeApiDeps(deps: ApiDeps): Promise<void> {
  await deps.queues.close().catch(() => undefined);
  deps.redis.disconnect();
  await deps.db.$disconnect().catch(() => undefined);
}
