import IORedis, { Cluster, type ClusterOptions, type Redis, type RedisOptions } from 'ioredis';

// Two kinds of connection: workers block on Redis and must retry forever
// (BullMQ requires maxRetriesPerRequest: null); the API's producer must fail
// fast so a request can answer 503 DEPENDENCY_UNAVAILABLE instead of hanging.
//
// Either kind is a standalone Redis (REDIS_URL) or a Redis Cluster
// (REDIS_CLUSTER_NODES, seed nodes; docs/architecture.md, "Scaling out").
// Every key a multi-key command or BullMQ script touches shares one hash tag
// (queue/prefix.ts), so the same code runs on both.

/** A standalone Redis or a Redis Cluster client: BullMQ and our own uses take either. */
export type RedisClient = Redis | Cluster;

/** Where Redis is: REDIS_URL, or a cluster when REDIS_CLUSTER_NODES lists seed nodes. */
export interface RedisTarget {
  REDIS_URL: string;
  REDIS_CLUSTER_NODES?: string | undefined;
}

export interface ClusterSeeds {
  nodes: { host: string; port: number }[];
  /** Credentials and TLS every node shares (from the first entry that is a URL). */
  auth: Pick<RedisOptions, 'username' | 'password' | 'tls'>;
}

/**
 * Parses REDIS_CLUSTER_NODES: comma-separated `host:port` or
 * `redis[s]://[user:password@]host:port` entries (any of the cluster's nodes;
 * the client discovers the rest). Throws on a malformed entry.
 */
export function parseClusterNodes(value: string): ClusterSeeds {
  const entries = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (entries.length === 0) throw new Error('no node given');
  let auth: ClusterSeeds['auth'] | undefined;
  const nodes = entries.map((entry) => {
    const isUrl = /^rediss?:\/\//.test(entry);
    if (!isUrl && entry.includes('://')) throw new Error(`${entry}: only redis:// or rediss:// URLs or host:port`);
    let url: URL;
    try {
      url = new URL(isUrl ? entry : `redis://${entry}`);
    } catch {
      throw new Error(`${entry}: not host:port or a redis URL`);
    }
    const port = Number(url.port || 6379);
    if (!url.hostname || !Number.isInteger(port) || port <= 0 || (!isUrl && !url.port)) throw new Error(`${entry}: needs a host and a port`);
    if (isUrl && !auth) {
      auth = {
        ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
        ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
        ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
      };
    }
    return { host: url.hostname.replace(/^\[|\]$/g, ''), port };
  });
  return { nodes, auth: auth ?? {} };
}

function target(t: string | RedisTarget): { url: string; cluster?: ClusterSeeds } {
  if (typeof t === 'string') return { url: t };
  return { url: t.REDIS_URL, cluster: t.REDIS_CLUSTER_NODES ? parseClusterNodes(t.REDIS_CLUSTER_NODES) : undefined };
}

/** Whether a client talks to a Redis Cluster. */
export function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

const WORKER_OPTIONS: RedisOptions = { maxRetriesPerRequest: null, enableReadyCheck: true };

const PRODUCER_OPTIONS: RedisOptions = {
  maxRetriesPerRequest: 1,
  enableOfflineQueue: false,
  connectTimeout: 2_000,
  commandTimeout: 2_000,
  retryStrategy: (times) => Math.min(times * 200, 2_000),
};

// A failover (a primary gone, its replica promoted after cluster-node-timeout)
// answers CLUSTERDOWN or MOVED for a few seconds; the cluster client refreshes
// its slot map and retries those itself, a bounded number of times.
const CLUSTER_OPTIONS: ClusterOptions = {
  retryDelayOnFailover: 200,
  retryDelayOnClusterDown: 300,
  retryDelayOnTryAgain: 200,
  maxRedirections: 16,
  slotsRefreshTimeout: 2_000,
  clusterRetryStrategy: (times) => Math.min(100 + times * 200, 2_000),
};

/**
 * Options every cluster client shares. With TLS the nodes are dialled by the
 * names they announce (no DNS lookup first), so the certificate checked is
 * the one issued for that name, as managed clusters (ElastiCache,
 * MemoryDB) require.
 */
function clusterOptions(seeds: ClusterSeeds): ClusterOptions {
  return seeds.auth.tls ? { ...CLUSTER_OPTIONS, dnsLookup: (address, callback) => callback(null, address) } : CLUSTER_OPTIONS;
}

export function createWorkerRedis(url: string, extra?: RedisOptions): Redis;
export function createWorkerRedis(target: string | RedisTarget, extra?: RedisOptions): RedisClient;
export function createWorkerRedis(t: string | RedisTarget, extra: RedisOptions = {}): RedisClient {
  const { url, cluster } = target(t);
  if (!cluster) return new IORedis(url, { ...WORKER_OPTIONS, ...extra });
  return new Cluster(cluster.nodes, {
    ...clusterOptions(cluster),
    enableReadyCheck: true,
    redisOptions: { ...cluster.auth, ...WORKER_OPTIONS, ...extra },
  });
}

export function createProducerRedis(url: string, extra?: RedisOptions): Redis;
export function createProducerRedis(target: string | RedisTarget, extra?: RedisOptions): RedisClient;
export function createProducerRedis(t: string | RedisTarget, extra: RedisOptions = {}): RedisClient {
  const { url, cluster } = target(t);
  const options = { ...PRODUCER_OPTIONS, ...extra };
  if (!cluster) return new IORedis(url, options);
  // The offline queue and reconnects are the cluster client's, not its node
  // connections' (it opens those lazily and drops a lost node for the slot
  // map's next answer): off, a command while no slot map is known fails at
  // once, as on a standalone connection.
  const { enableOfflineQueue, retryStrategy: _perNode, ...nodeOptions } = options;
  return new Cluster(cluster.nodes, {
    ...clusterOptions(cluster),
    enableOfflineQueue: enableOfflineQueue ?? false,
    redisOptions: { ...cluster.auth, ...nodeOptions },
  });
}

/** Resolves when the client is ready, rejects after timeoutMs. */
export async function waitForRedis(client: RedisClient, timeoutMs = 5_000): Promise<void> {
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
