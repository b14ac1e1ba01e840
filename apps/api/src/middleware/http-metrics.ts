import type { Request, RequestHandler } from 'express';
import type { Metrics } from '../../../../lib/metrics';
import { routeTemplateOf } from './route-template';

// Label by route template (`/api/campaigns/:id`), never by raw path: ids and
// respellings would make the series unbounded. Whatever matched no route
// shares one label.
export function routeLabel(req: Request): string {
  return routeTemplateOf(req) ?? 'unmatched';
}

export function httpMetrics(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const labels = { method: req.method, route: routeLabel(req), status: String(res.statusCode) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - start) / 1e9);
    });
    next();
  };
}
