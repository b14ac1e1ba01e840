import type { Cluster } from 'ioredis';
import { isCluster, type RedisClient } from '../lib/redis';
import { queuePrefix } from '../queue/connection';
import { ALL_QUEUES } from '../queue/names';
import { useTestEnv } from './harness';

// Where BullMQ's keys land. On a single Redis (the default run) and on a
// Redis Cluster (npm run test:cluster, REDIS_CLUSTER_NODES set): every key of
// a queue carries that queue's own hash tag, so each queue is one slot and the
// queues spread over the cluster's primaries.

const t = useTestEnv();

/** Every key under this run's prefix, on every primary. */
async function keysOf(redis: RedisClient, base: string): Promise<{ key: string; node: string }[]> {
  const pattern = `{${base.replace(/[{}]/g, '')}:*`;
  const nodes = isCluster(redis) ? redis.nodes('master') : [redis];
  const found: { key: string; node: string }[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) found.push({ key, node: `${node.options.host}:${node.options.port}` });
    } while (cursor !== '0');
  }
  return found;
}

/** The primary serving each slot range, from CLUSTER SLOTS. */
async function slotOwners(cluster: Cluster): Promise<(slot: number) => string> {
  const ranges = await cluster.cluster('SLOTS');
  return (slot) => {
    const primary = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2];
    if (!primary) throw new Error(`slot ${slot} is not served`);
    return `${primary[0]}:${primary[1]}`;
  };
}

/** Redis Cluster's slot of a key: CRC16 (XMODEM) of its hash tag, mod 16384. */
function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(hashed)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

it('every key of a queue carries that queue’s own hash tag, one slot per queue, served by the primary that owns it', async () => {
  const { redis, queues, config } = t.deps;
  // The cluster run must really be on the cluster.
  expect(isCluster(redis)).toBe(Boolean(process.env.REDIS_CLUSTER_NODES));
  const owner = isCluster(redis) ? await slotOwners(redis) : undefined;
  for (const name of ALL_QUEUES) await queues.get(name).add('layout.probe.v1', { traceId: 'layout' }, { jobId: `probe-${name}` });
  const keys = await keysOf(redis, config.QUEUE_PREFIX);
  for (const name of ALL_QUEUES) {
    const tag = queuePrefix(config.QUEUE_PREFIX, name);
    const own = keys.filter((k) => k.key.startsWith(`${tag}:${name}:`));
    // The job hash, the wait list and the meta at least.
    expect(own.map((k) => k.key)).toEqual(expect.arrayContaining([`${tag}:${name}:probe-${name}`, `${tag}:${name}:wait`, `${tag}:${name}:meta`]));
    expect(new Set(own.map((k) => keySlot(k.key)))).toEqual(new Set([keySlot(tag)]));
    if (owner && isCluster(redis)) {
      expect(Number(await redis.cluster('KEYSLOT', tag))).toBe(keySlot(tag));
      expect([...new Set(own.map((k) => k.node))]).toEqual([owner(keySlot(tag))]);
    }
  }
  // Nothing of BullMQ outside a queue's tag.
  const tags = ALL_QUEUES.map((name) => `${queuePrefix(config.QUEUE_PREFIX, name)}:${name}:`);
  expect(keys.filter((k) => !tags.some((tag) => k.key.startsWith(tag)))).toEqual([]);
  for (const name of ALL_QUEUES) await queues.get(name).obliterate({ force: true });
});

it('the production prefix spreads the queues over a cluster: six slots, on all three primaries of an even split', () => {
  const slots = ALL_QUEUES.map((name) => keySlot(queuePrefix('{sms}', name)));
  expect(new Set(slots).size).toBe(ALL_QUEUES.length);
  // scripts/redis-cluster.sh (redis-cli --cluster create) splits 16384 slots in thirds.
  const third = (slot: number): number => (slot <= 5460 ? 0 : slot <= 10922 ? 1 : 2);
  expect(new Set(slots.map(third)).size).toBe(3);
  // Before, one `{sms}` tag: every queue on one slot.
  expect(new Set(ALL_QUEUES.map((name) => keySlot(`{sms}:${name}:wait`))).size).toBe(1);
});
