import express, { type ErrorRequestHandler, type Express } from 'express';
import { AppError } from '../../../../lib/errors';
import { scrapeMetrics } from '../../../../lib/metrics-endpoint';
import type { ApiDeps } from '../deps';
import { shortLinks } from './short-links';

export type LinksDeps = Pick<ApiDeps, 'config' | 'db' | 'metrics' | 'logger' | 'now'>;

const NOT_FOUND_BODY = 'Not found\n';

/**
 * The short-link redirector as a process of its own (`npm run start:links`,
 * links-server.ts): the api's lean link path and nothing else, so a click is
 * never queued behind delivery-report ingest or admin traffic. Same code,
 * same answers, same click buffer and metrics as the api's copy of the route
 * (which stays for single-process deployments); `PUBLIC_LINK_BASE` decides
 * which one recipients reach. No Redis, no queues, no sessions: a database
 * pool for cache misses and click flushes only.
 *
 * `/health` is liveness: redirects of cached campaigns and buffered clicks
 * keep working through a database outage (the buffer's gauges and alerts say
 * when flushes fail), so a database error must not take the process out of
 * rotation.
 */
export function createLinksApp(deps: LinksDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', deps.config.TRUST_PROXY);
  app.set('case sensitive routing', true);
  app.set('strict routing', true);

  const links = shortLinks(deps);
  app.locals.clickBuffer = links.clicks;
  app.get(links.path, links.handler);

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', clicksBuffered: links.clicks.size });
  });
  const scrape = { registry: deps.metrics.registry, token: deps.config.METRICS_TOKEN };
  app.get('/metrics', async (req, res) => {
    const exposition = await scrapeMetrics(scrape, req.get('authorization'));
    if (!exposition) {
      const err = new AppError('UNAUTHENTICATED', 'Metrics token required');
      res.status(err.status).json({ error: { code: err.code, message: err.message } });
      return;
    }
    res.setHeader('Content-Type', exposition.contentType);
    res.send(exposition.body);
  });
  // Anything else: the short links' own 404 (no JSON, no hint of what exists).
  app.use((_req, res) => {
    res.status(404).type('text/plain').send(NOT_FOUND_BODY);
  });
  const failed: ErrorRequestHandler = (err: unknown, _req, res, _next) => {
    deps.logger.error({ err }, 'links: request failed');
    if (!res.headersSent) res.status(500).type('text/plain').send('Internal error\n');
  };
  app.use(failed);
  return app;
}
