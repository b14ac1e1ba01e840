import { loadConfigOrExit } from '../../../lib/config';
import { parseWorkerQueues } from '../../../queue/names';
import { buildWorkerDeps, closeWorkerDeps } from './build-deps';
import { createOpsApp, listenOps } from './ops-server';
import { HANDLERS, checkHandlers } from './registry';
import { keepSchedulers } from './schedulers';
import { startWorkers, type WorkerHost } from './worker-host';

async function main(): Promise<void> {
  const config = loadConfigOrExit('worker');
  process.env.SERVICE_NAME ??= 'worker';
  // Refuse to start on an inconsistent registry or unknown queue names, before connecting anywhere.
  checkHandlers(HANDLERS);
  const queues = parseWorkerQueues(config.WORKER_QUEUES);

  const deps = buildWorkerDeps(config);
  const running: { host?: WorkerHost } = {};
  const ops = await listenOps(createOpsApp(deps, () => running.host), config.WORKER_METRICS_PORT);
  if (queues.includes('maintenance')) await keepSchedulers(deps, config);
  running.host = startWorkers(deps, queues, HANDLERS);
  deps.logger.info({ queues, port: config.WORKER_METRICS_PORT }, 'worker started');

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    deps.logger.info({ signal }, 'worker stopping');
    await running.host?.close(config.SHUTDOWN_TIMEOUT_MS);
    ops.close();
    await closeWorkerDeps(deps);
    deps.logger.info('worker stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`worker failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
