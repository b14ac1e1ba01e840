import IORedis, { type Redis, type RedisOptions } from 'ioredis';

// Two kinds of connection: workers block on Redis and must retry forever
// (BullMQ requires maxRetriesPerRequest: null); the API's producer must fail
// fast so a request can answer 503 DEPENDENCY_UNAVAILABLE instead of hanging.

export function createWorkerRedis(url: string, extra: RedisOptions = {}): Redis {
  return new IORedis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...extra });
}

export function createProducerRedis(url: string, extra: RedisOptions = {}): Redis {
  return new IORedis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    ...extra,
  });
}

/** Resolves when the client is ready, rejects after timeoutMs. */
export async function waitForRedis(client: Redis, timeoutMs = 5_000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = (): void => {
      cleanup();
      resolve();
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
    };
    client.on('ready', onReady);
  });
}
