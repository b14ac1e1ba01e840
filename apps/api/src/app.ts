import express, { type Express } from 'express';
import { scrapeRefresher } from '../../../domain/ops/scrape-refresher';
import type { ApiDeps } from './deps';
import { MiB } from './middleware/body-limit';
import { closeUnreadBodies } from './middleware/close-unread-body';
import { errorHandler, notFoundHandler } from './middleware/error-handler';
import { httpLogger } from './middleware/http-logger';
import { httpMetrics } from './middleware/http-metrics';
import { jsonBody } from './middleware/json-body';
import { rateLimiter } from './middleware/rate-limit';
import { requestContext } from './middleware/request-context';
import { recordRouteTemplates } from './middleware/route-template';
import { sessionAuth } from './middleware/session-auth';
import { apiRouters } from './routes';
import { adminRoutes } from './routes/admin.routes';
import { healthRoutes } from './routes/health.routes';
import { metricsRoutes } from './routes/metrics.routes';
import { webhookRouters } from './webhooks';
import { internalRoutes } from './internal/internal.routes';
import { shortLinks } from './links/short-links';
import { reportFastPath, serveFirst } from './webhooks/report-fast-path';

/** Builds the Express app without listening (tests drive it with supertest). */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // Responses are per-shop JSON that clients never revalidate (no
  // If-None-Match in the contract): hashing every body for an ETag is work
  // for nothing on each request.
  app.set('etag', false);
  // A hop count, never `true`: with `true` req.ip is the left-most X-Forwarded-For entry, which the client writes.
  app.set('trust proxy', deps.config.TRUST_PROXY);
  app.set('query parser', 'simple');
  // One spelling per route (see router-options.ts); set before the first
  // app.use, which creates the app's router with them.
  app.set('case sensitive routing', true);
  app.set('strict routing', true);

  // Short links first, before any other middleware: the one route that must
  // answer thousands of clicks a second (apps/api/src/links/short-links.ts).
  const links = shortLinks(deps);
  app.locals.clickBuffer = links.clicks;
  app.get(links.path, links.handler);

  const access = httpLogger(deps.logger);
  app.use(closeUnreadBodies());
  app.use(requestContext());
  app.use(access);
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
  app.use('/app', adminRoutes(deps));

  // The session token (a header) is checked before any body is read: an
  // unauthenticated upload is refused unread. api.md: bodies up to 1 MiB,
  // the contact import up to 10 MiB.
  app.use(
    '/api',
    sessionAuth(deps, { alongside: rateLimiter(deps) }),
    ...jsonBody(MiB, { 'POST /contacts/import': 10 * MiB }),
    ...apiRouters(deps),
  );

  app.use(notFoundHandler);
  app.use(errorHandler(deps.logger));
  recordRouteTemplates(app);
  // Delivery reports sent one per request, thousands a second from the
  // provider during a campaign, are answered ahead of Express (report-fast-path.ts).
  serveFirst(app as unknown as { handle?: unknown }, reportFastPath(deps, access));
  return app;
}
