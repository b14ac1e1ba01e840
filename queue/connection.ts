import { Queue, type ConnectionOptions } from 'bullmq';
import type { RedisClient } from '../lib/redis';
import { ALL_QUEUES, type QueueName } from './names';

export interface QueueSet {
  /** QUEUE_PREFIX, the base of every queue's own prefix (queuePrefix). */
  prefix: string;
  get(name: QueueName): Queue;
  all(): Queue[];
  close(): Promise<void>;
}

/**
 * The BullMQ prefix of one queue: QUEUE_PREFIX and the queue's name as one
 * Redis Cluster hash tag (`{sms}` and `sends` → `{sms:sends}`, keys
 * `{sms:sends}:sends:wait` …). BullMQ's scripts touch several keys of a queue
 * at once, so a queue's keys must share a slot; a tag per queue puts each
 * queue on its own slot, so the queues spread over a cluster's primaries
 * instead of all sitting on one. Producers and workers must agree on it: every
 * Queue and Worker takes its prefix from here. Queue names never change.
 */
export function queuePrefix(base: string, queue: string): string {
  return `{${base.replace(/[{}]/g, '')}:${queue}}`;
}

/** BullMQ's options for a queue: its own prefix on the given connection. */
export function queueOptions(connection: RedisClient, base: string, queue: string): { connection: ConnectionOptions; prefix: string } {
  return { connection: connection as unknown as ConnectionOptions, prefix: queuePrefix(base, queue) };
}

/** Producer-side queues sharing one connection, each on its own hash tag (queuePrefix). */
export function createQueueSet(connection: RedisClient, prefix: string): QueueSet {
  const queues = new Map<QueueName, Queue>();
  const get = (name: QueueName): Queue => {
    let q = queues.get(name);
    if (!q) {
      q = new Queue(name, queueOptions(connection, prefix, name));
      q.on('error', () => undefined); // surfaced through failed calls, not as unhandled events
      queues.set(name, q);
    }
    return q;
  };
  return {
    prefix,
    get,
    all: () => ALL_QUEUES.map(get),
    close: async () => {
      await Promise.all([...queues.values()].map((q) => q.close()));
      queues.clear();
    },
  };
}
