import { Router } from 'express';
import { AppError } from '../../../../lib/errors';
import { scrapeMetrics, type MetricsEndpointOptions } from '../../../../lib/metrics-endpoint';
import { EXACT_ROUTING } from '../router-options';

/** Prometheus exposition; gauges that are read at scrape time refresh first. */
export function metricsRoutes(opts: MetricsEndpointOptions): Router {
  const router = Router(EXACT_ROUTING);
  router.get('/metrics', async (req, res, next) => {
    const scrape = await scrapeMetrics(opts, req.get('authorization'));
    if (!scrape) {
      next(new AppError('UNAUTHENTICATED', 'Metrics token required'));
      return;
    }
    res.setHeader('Content-Type', scrape.contentType);
    res.send(scrape.body);
  });
  return router;
}
