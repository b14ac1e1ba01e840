import type { Config } from '../../../lib/config';
import { createDb } from '../../../lib/db';
import { createLogger } from '../../../lib/logger';
import { getMetrics } from '../../../lib/metrics';
import { createWorkerRedis } from '../../../lib/redis';
import { createQueueSet } from '../../../queue/connection';
import { createProducer } from '../../../queue/producer';
import { createProviderFromConfig, type MittoProvider } from '../../../domain/messaging/providers';
import type { Metrics } from '../../../lib/metrics';
import type { WorkerDeps } from './deps';

// Providers built here are closed here; an injected one belongs to its caller.
const ownedProviders = new WeakMap<WorkerDeps, MittoProvider>();

/** The configured provider, its request durations recorded per outcome. */
export function buildProvider(config: Config, metrics: Metrics): MittoProvider {
  return createProviderFromConfig(config, {
    timeoutMs: config.SMS_PROVIDER_TIMEOUT_MS,
    onRequest: (outcome, seconds) => metrics.providerDuration.observe({ provider: config.SMS_PROVIDER, outcome }, seconds),
  });
}

export function buildWorkerDeps(config: Config, overrides: Partial<WorkerDeps> = {}): WorkerDeps {
  const logger = overrides.logger ?? createLogger({ level: config.LOG_LEVEL, name: 'worker' });
  const redis = overrides.redis ?? createWorkerRedis(config);
  redis.on('error', (err: Error) => logger.warn({ err: { message: err.message } }, 'redis connection error'));
  const queues = overrides.queues ?? createQueueSet(redis, config.QUEUE_PREFIX);
  const metrics = overrides.metrics ?? getMetrics();
  const built = overrides.provider ? undefined : buildProvider(config, metrics);
  const deps: WorkerDeps = {
    config,
    db: overrides.db ?? createDb(config),
    redis,
    queues,
    producer: overrides.producer ?? createProducer(queues),
    logger,
    metrics,
    now: overrides.now ?? (() => new Date()),
    provider: overrides.provider ?? built,
  };
  if (built) ownedProviders.set(deps, built);
  return deps;
}

export async function closeWorkerDeps(deps: WorkerDeps): Promise<void> {
  await deps.queues.close().catch(() => undefined);
  ownedProviders.get(deps)?.close();
  deps.redis.disconnect();
  await deps.db.$disconnect().catch(() => undefined);
}
