import { userInfo } from 'node:os';
import { loadConfigOrExit } from '../lib/config';
import { createDb, type Db } from '../lib/db';
import { createProducerRedis } from '../lib/redis';
import { createQueueSet, type QueueSet } from '../queue/connection';
import { OpsError, runOps } from './ops/cli';

// Recorded with a by-hand change; a container user without a passwd entry has no name.
function operatorName(): string | undefined {
  if (process.env.OPS_OPERATOR) return process.env.OPS_OPERATOR;
  try {
    return userInfo().username || undefined;
  } catch {
    return undefined;
  }
}

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
      operator: operatorName(),
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
