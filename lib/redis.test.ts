import type { Cluster } from 'ioredis';
import { parseConfig } from './config';
import { createProducerRedis, createWorkerRedis, isCluster, parseClusterNodes } from './redis';

describe('REDIS_CLUSTER_NODES', () => {
  it('takes host:port and redis URLs; credentials and TLS from the first URL apply to every node', () => {
    expect(parseClusterNodes('10.0.0.1:7000, 10.0.0.2:7001')).toEqual({ nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }], auth: {} });
    expect(parseClusterNodes('rediss://app:s%40cret@redis-a.internal:6380,redis-b.internal:6380')).toEqual({
      nodes: [{ host: 'redis-a.internal', port: 6380 }, { host: 'redis-b.internal', port: 6380 }],
      auth: { username: 'app', password: 's@cret', tls: {} },
    });
    expect(parseClusterNodes('redis://[::1]:7000').nodes).toEqual([{ host: '::1', port: 7000 }]);
  });

  it.each([[''], [' , '], ['localhost'], ['http://x:7000'], ['host:notaport'], ['host:0']])('refuses %j', (value) => {
    expect(() => parseClusterNodes(value)).toThrow();
  });
});

describe('connections', () => {
  it('REDIS_CLUSTER_NODES is checked with the rest of the configuration', () => {
    expect(() => parseConfig({ REDIS_CLUSTER_NODES: 'redis-a.internal' })).toThrow(/REDIS_CLUSTER_NODES: must be comma-separated host:port or redis URLs/);
    expect(parseConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001' }).REDIS_CLUSTER_NODES).toBe('127.0.0.1:7000,127.0.0.1:7001');
    expect(parseConfig({}).REDIS_CLUSTER_NODES).toBeUndefined();
    // Empty is unset: a stack can switch the cluster off for one process.
    expect(parseConfig({ REDIS_CLUSTER_NODES: '' }).REDIS_CLUSTER_NODES).toBeUndefined();
  });

  it('a TLS cluster dials its nodes by name, so their certificates match', () => {
    const tls = createProducerRedis({ REDIS_URL: 'redis://127.0.0.1:1', REDIS_CLUSTER_NODES: 'rediss://127.0.0.1:1' }) as Cluster;
    const plain = createProducerRedis({ REDIS_URL: 'redis://127.0.0.1:1', REDIS_CLUSTER_NODES: '127.0.0.1:1' }) as Cluster;
    for (const c of [tls, plain]) c.on('error', () => undefined);
    try {
      expect(tls.options.redisOptions?.tls).toEqual({});
      const resolved: string[] = [];
      tls.options.dnsLookup?.('node-1.cache.internal', (_err, address) => resolved.push(address));
      expect(resolved).toEqual(['node-1.cache.internal']);
      expect(plain.options.redisOptions?.tls).toBeUndefined();
    } finally {
      tls.disconnect();
      plain.disconnect();
    }
  });

  it.each([
    ['worker', createWorkerRedis],
    ['producer', createProducerRedis],
  ] as const)('a %s connection is a cluster client when seed nodes are set, a plain one otherwise', (kind, create) => {
    const cluster = create({ REDIS_URL: 'redis://127.0.0.1:1', REDIS_CLUSTER_NODES: '127.0.0.1:1' }, { lazyConnect: true });
    const single = create({ REDIS_URL: 'redis://127.0.0.1:1' }, { lazyConnect: true });
    cluster.on('error', () => undefined);
    try {
      expect(isCluster(cluster)).toBe(true);
      expect(isCluster(single)).toBe(false);
      // BullMQ's rule for blocking connections holds on every node of a cluster; producers fail fast.
      expect((cluster as Cluster).options.redisOptions?.maxRetriesPerRequest).toBe(kind === 'worker' ? null : 1);
    } finally {
      cluster.disconnect();
      single.disconnect();
    }
  });
});
