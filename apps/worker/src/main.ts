import { loadConfigOrExit } from '../../../lib/config';
import { armExitDeadline } from '../../../lib/shutdown';
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
    armExitDeadline(deps.logger, config.SHUTDOWN_TIMEOUT_MS);
    // Takes no new job; in-flight ones finish within the bound. Past it they are
    // abandoned (their locks expire and they are retried elsewhere) and the
    // process exits without closing the pools they may hold: a forced close
    // cannot overtake a BullMQ close already under way.
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), config.SHUTDOWN_TIMEOUT_MS).unref());
    const drained = (await Promise.race([(running.host?.close(config.SHUTDOWN_TIMEOUT_MS) ?? Promise.resolve()).then(() => 'ok' as const), timer])) === 'ok';
    ops.close();
    if (drained) await closeWorkerDeps(deps);
    else deps.logger.warn({ drainMs: config.SHUTDOWN_TIMEOUT_MS }, 'drain timed out; in-flight jobs abandoned to their lock expiry');
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
