import type { Request, RequestHandler } from 'express';
import type { Metrics } from '../../../../lib/metrics';
import { routeTemplateOf } from './route-template';

// Label by route template (`/api/campaigns/:id`), never by raw path: ids and
// respellings would make the series unbounded. Whatever matched no route
// shares one label.
export function routeLabel(req: Request): string {
  return routeTemplateOf(req) ?? 'unmatched';
}

/** Counts one answered request and its duration under its route template. */
export function observeRequest(metrics: Metrics, method: string, route: string, status: number, seconds: number): void {
  const labels = { method, route, status: String(status) };
  metrics.httpRequests.inc(labels);
  metrics.httpDuration.observe(labels, seconds);
}

export function httpMetrics(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => observeRequest(metrics, req.method, routeLabel(req), res.statusCode, Number(process.hrtime.bigint() - start) / 1e9));
    next();
  };
}
