import { loadConfigOrExit } from '../lib/config';
import { createDb, type Db } from '../lib/db';
import { createProducerRedis } from '../lib/redis';
import { createQueueSet, type QueueSet } from '../queue/connection';
import { OpsError, runOps } from './ops/cli';

async function main(): Promise<number> {
  const config = loadConfigOrExit();
  let db: Db | undefined;
  let queues: QueueSet | undefined;
  const redis = () => createProducerRedis(config, { enableOfflineQueue: true });
  try {
    return await runOps(process.argv.slice(2), {
      config,
      db: () => (db ??= createDb(config)),
      queues: () => (queues ??= createQueueSet(redis(), config.QUEUE_PREFIX)),
      apiUrl: process.env.OPS_API_URL ?? `http://127.0.0.1:${config.PORT}`,
      out: (text) => console.log(text),
    });
  } finally {
    await queues?.close();
    await db?.$disconnect();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof OpsError ? `error: ${err.message}` : `ops failed: ${(err as Error).message}`);
    process.exit(err instanceof OpsError ? 2 : 1);
  },
);
