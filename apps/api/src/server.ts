import type { Server } from 'node:http';
import { loadConfigOrExit } from '../../../lib/config';
import { createApp } from './app';
import { buildApiDeps, closeApiDeps } from './build-deps';
import { stopOnSignals } from './drain';
import { clickBufferOf } from './links/short-links';
import { deferContinue } from './middleware/body-limit';

// Entry point: listen, and on SIGTERM/SIGINT stop accepting, let in-flight
// requests finish (bounded by SHUTDOWN_TIMEOUT_MS, each connection closed
// after its response), then close the pools; the whole stop is bounded by
// SHUTDOWN_TIMEOUT_MS + CLOSE_GRACE_MS (lib/shutdown.ts).
async function main(): Promise<void> {
  const config = loadConfigOrExit('api');
  process.env.SERVICE_NAME ??= 'api';
  const deps = await buildApiDeps(config);
  const app = createApp(deps);
  const server: Server = app.listen(config.PORT, () => {
    deps.logger.info({ port: config.PORT }, 'api listening');
  });
  server.keepAliveTimeout = 65_000;
  deferContinue(server);
  stopOnSignals(server, {
    name: 'api',
    logger: deps.logger,
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    // Clicks still buffered are written before the pools close.
    close: () =>
      clickBufferOf(app)
        .close()
        .catch((err: unknown) => deps.logger.warn({ err }, 'clicks not flushed at shutdown'))
        .then(() => closeApiDeps(deps)),
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`api failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
