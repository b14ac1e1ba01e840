import express, { type Express } from 'express';
import { scrapeRefresher } from '../../../domain/ops/scrape-refresher';
import type { ApiDeps } from './deps';
import { errorHandler, notFoundHandler } from './middleware/error-handler';
import { httpLogger } from './middleware/http-logger';
import { httpMetrics } from './middleware/http-metrics';
import { jsonBody } from './middleware/json-body';
import { rateLimiter } from './middleware/rate-limit';
import { requestContext } from './middleware/request-context';
import { sessionAuth } from './middleware/session-auth';
import { apiRouters } from './routes';
import { healthRoutes } from './routes/health.routes';
import { metricsRoutes } from './routes/metrics.routes';
import { webhookRouters } from './webhooks';
import { internalRoutes } from './internal/internal.routes';

/** Builds the Express app without listening (tests drive it with supertest). */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Responses are per-shop JSON that clients never revalidate (no
  // If-None-Match in the contract): hashing every body for an ETag is work
  // for nothing on each request.
  app.set('etag', false);
  app.set('trust proxy', deps.config.TRUST_PROXY);
  app.set('query parser', 'simple');

  app.use(requestContext());
  app.use(httpLogger(deps.logger));
  app.use(httpMetrics(deps.metrics));

  // Webhook routes read raw bodies and must be mounted before the JSON parser.
  // First among the routers: they take the most requests (Express walks the
  // layers in order for each one).
  app.use('/webhooks', ...webhookRouters(deps));
  app.use(healthRoutes(deps));
  app.use(
    metricsRoutes({
      registry: deps.metrics.registry,
      token: deps.config.METRICS_TOKEN,
      beforeScrape: scrapeRefresher(deps),
    }),
  );
  app.use('/internal', internalRoutes(deps));

  // Contact import is the one route allowed a 10 MiB body; the general parser
  // below skips a body that is already parsed.
  app.use('/api/contacts/import', ...jsonBody('10mb'));
  app.use('/api', ...jsonBody('1mb'), sessionAuth(deps, { alongside: rateLimiter(deps) }), ...apiRouters(deps));

  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  return app;
}
