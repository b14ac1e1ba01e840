import { Queue, type ConnectionOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { ALL_QUEUES, type QueueName } from './names';

export interface QueueSet {
  prefix: string;
  get(name: QueueName): Queue;
  all(): Queue[];
  close(): Promise<void>;
}

/**
 * Producer-side queues sharing one connection. The prefix (default `{sms}`)
 * is a Redis Cluster hash tag, so every key of every queue lands on one slot.
 */
export function createQueueSet(connection: Redis, prefix: string): QueueSet {
  const queues = new Map<QueueName, Queue>();
  const get = (name: QueueName): Queue => {
    let q = queues.get(name);
    if (!q) {
      q = new Queue(name, { connection: connection as unknown as ConnectionOptions, prefix });
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
