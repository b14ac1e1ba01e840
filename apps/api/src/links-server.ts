import { createServer, type Server } from 'node:http';
import { loadConfigOrExit } from '../../../lib/config';
import { createDb } from '../../../lib/db';
import { createLogger } from '../../../lib/logger';
import { getMetrics } from '../../../lib/metrics';
import { stopOnSignals } from './drain';
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
  stopOnSignals(server, {
    name: 'links',
    logger,
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    close: () =>
      app.clicks
        .close()
        .catch((err: unknown) => logger.warn({ err }, 'clicks not flushed at shutdown'))
        .then(() => db.$disconnect().catch(() => undefined)),
  });
}

main();
