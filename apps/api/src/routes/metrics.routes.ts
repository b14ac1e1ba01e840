import { timingSafeEqual } from 'node:crypto';
import { Router } from 'express';
import type { Registry } from 'prom-client';
import { AppError } from '../../../../lib/errors';

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(header?.replace(/^Bearer\s+/i, '') ?? '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** Prometheus exposition; gauges that are read at scrape time refresh first. */
export function metricsRoutes(opts: { registry: Registry; token?: string; beforeScrape?: () => Promise<void> }): Router {
  const router = Router();
  router.get('/metrics', async (req, res, next) => {
    if (opts.token && !tokenMatches(req.get('authorization'), opts.token)) {
      next(new AppError('UNAUTHENTICATED', 'Metrics token required'));
      return;
    }
    // A failed refresh leaves the last values; the scrape itself still answers.
    await opts.beforeScrape?.().catch(() => undefined);
    res.setHeader('Content-Type', opts.registry.contentType);
    res.send(await opts.registry.metrics());
  });
  return router;
}
