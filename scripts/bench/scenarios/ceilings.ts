// The machine's own ceilings, measured in the same run as the pipeline:
//  - Postgres: batch UPDATEs (500 ids per statement, by primary key) on a
//    scratch table as big as the campaign, with as many connections in
//    parallel as the sends worker runs jobs;
//  - BullMQ: no-op jobs through a Worker with the sends queue's concurrency,
//    on the stack's prefix and the same connection style.
// The pipeline writes every recipient row twice (claim, settle) and runs one
// job per batch, so these bound what it could ever reach here.

import { Queue, Worker } from 'bullmq';
import { queueOptions } from '../../../queue/connection';
import { Pool } from 'pg';
import { createProducerRedis, createWorkerRedis, waitForRedis } from '../../../lib/redis';
import { DEFAULT_JOB_OPTIONS } from '../../../queue/producer';
import type { BenchDb } from '../bench-db';

export interface PgCeiling {
  rows: number;
  batch: number;
  concurrency: number;
  seconds: number;
  rowsPerSecond: number;
}

export async function postgresUpdateCeiling(db: BenchDb, o: { rows: number; batch: number; concurrency: number }): Promise<PgCeiling> {
  await db.pool.query('DROP TABLE IF EXISTS bench_scratch');
  // Roughly a recipient row: the columns a claim and a settle write.
  await db.pool.query(`CREATE TABLE bench_scratch (
      id bigint PRIMARY KEY, status text NOT NULL DEFAULT 'pending', attempt smallint NOT NULL DEFAULT 0,
      claim_token uuid, provider_message_id text, segments smallint, sent_at timestamptz)`);
  await db.pool.query('INSERT INTO bench_scratch (id) SELECT g FROM generate_series(1, $1::int) g', [o.rows]);
  await db.pool.query('VACUUM ANALYZE bench_scratch');
  const pool = new Pool({ connectionString: db.url, max: o.concurrency, application_name: 'bench-ceiling' });
  try {
    await Promise.all(Array.from({ length: o.concurrency }, () => pool.query('SELECT 1')));
    const batches: number[][] = [];
    for (let start = 1; start <= o.rows; start += o.batch) {
      batches.push(Array.from({ length: Math.min(o.batch, o.rows - start + 1) }, (_, i) => start + i));
    }
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: o.concurrency }, async () => {
        for (;;) {
          const ids = batches[next++];
          if (!ids) return;
          await pool.query(
            `UPDATE bench_scratch SET status = 'sent', attempt = attempt + 1, provider_message_id = 'sim-' || id, segments = 1, sent_at = now()
              WHERE id = ANY($1::bigint[])`,
            [ids],
          );
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    return { rows: o.rows, batch: o.batch, concurrency: o.concurrency, seconds, rowsPerSecond: o.rows / seconds };
  } finally {
    await pool.end();
    await db.pool.query('DROP TABLE IF EXISTS bench_scratch');
  }
}

export interface QueueCeiling {
  jobs: number;
  concurrency: number;
  seconds: number;
  jobsPerSecond: number;
}

export async function bullmqNoopCeiling(o: { redisUrl: string; prefix: string; jobs: number; concurrency: number }): Promise<QueueCeiling> {
  const producer = createProducerRedis(o.redisUrl);
  const consumer = createWorkerRedis(o.redisUrl);
  await waitForRedis(producer);
  const queue = new Queue('bench-noop', queueOptions(producer, o.prefix, 'bench-noop'));
  try {
    for (let i = 0; i < o.jobs; i += 1000) {
      await queue.addBulk(
        Array.from({ length: Math.min(1000, o.jobs - i) }, (_, k) => ({
          name: 'bench.noop.v1',
          data: { traceId: 'bench', n: i + k },
          opts: { ...DEFAULT_JOB_OPTIONS, jobId: `noop-${i + k}` },
        })),
      );
    }
    let done = 0;
    let t0 = 0;
    const finished = new Promise<void>((resolve) => {
      const worker = new Worker(
        'bench-noop',
        async () => {
          if (t0 === 0) t0 = performance.now();
          return null;
        },
        { ...queueOptions(consumer, o.prefix, 'bench-noop'), concurrency: o.concurrency },
      );
      worker.on('completed', () => {
        if (++done === o.jobs) void worker.close().then(() => resolve());
      });
    });
    await finished;
    const seconds = (performance.now() - t0) / 1000;
    return { jobs: o.jobs, concurrency: o.concurrency, seconds, jobsPerSecond: o.jobs / seconds };
  } finally {
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    producer.disconnect();
    consumer.disconnect();
  }
}
