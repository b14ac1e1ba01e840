import { createServer, type Server } from 'node:http';
import { loadConfigOrExit } from '../../../lib/config';
import { createDb } from '../../../lib/db';
import { createLogger } from '../../../lib/logger';
import { getMetrics } from '../../../lib/metrics';
import { armExitDeadline } from '../../../lib/shutdown';
import { connectionDrain } from './drain';
import { createLinksApp } from './links/links-app';

// Entry point of the short-link redirector (`npm run start:links`,
// links/links-app.ts). Stops like the api: no new connections, in-flight
// redirects answered, the click buffer flushed, then the pool closed, all
// within SHUTDOWN_TIMEOUT_MS + CLOSE_GRACE_MS.
function main(): void {
  const config = loadConfigOrExit('links');
  process.env.SERVICE_NAME ??= 'links';
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'links' });
  const db = createDb(config);
  const app = createLinksApp({ config, db, logger, metrics: getMetrics(), now: () => new Date() });
  const server: Server = createServer(app.listener).listen(config.LINKS_PORT, () => {
    logger.info({ port: config.LINKS_PORT }, 'links listening');
  });
  server.keepAliveTimeout = 65_000;
  const drain = connectionDrain(server);

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'links draining');
    armExitDeadline(logger, config.SHUTDOWN_TIMEOUT_MS);
    setTimeout(() => server.closeAllConnections(), config.SHUTDOWN_TIMEOUT_MS).unref();
    server.close(() => {
      void app.clicks
        .close()
        .catch((err: unknown) => logger.warn({ err }, 'clicks not flushed at shutdown'))
        .then(() => db.$disconnect().catch(() => undefined))
        .finally(() => {
          logger.info('links stopped');
          process.exit(0);
        });
    });
    drain.start();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main();
