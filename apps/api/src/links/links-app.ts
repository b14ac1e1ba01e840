import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { ClickBuffer } from '../../../../domain/links/click-buffer';
import { AppError } from '../../../../lib/errors';
import { scrapeMetrics } from '../../../../lib/metrics-endpoint';
import type { ApiDeps } from '../deps';
import { clientAddress } from './client-address';
import { shortLinks, type LinkRequest } from './short-links';

export type LinksDeps = Pick<ApiDeps, 'config' | 'db' | 'metrics' | 'logger' | 'now'>;

export interface LinksApp {
  /** For `http.createServer` (links-server.ts) or supertest. */
  listener: RequestListener;
  /** Flushed by the server on shutdown, and by tests to read clicks. */
  clicks: ClickBuffer;
}

const NOT_FOUND_BODY = 'Not found\n';

function plain(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}

/**
 * The short-link redirector as a process of its own (`npm run start:links`,
 * links-server.ts): the api's link route (short-links.ts: same answers, click
 * buffer and metrics) and nothing else, so a click never queues behind
 * delivery-report ingest or admin traffic. A bare node:http listener rather
 * than Express: measured on this machine, Express' router and response
 * helpers took ~120 µs of the ~220 µs of CPU a redirect cost (a bare
 * listener: 70–100 µs, most of it the kernel's socket write), i.e. half the
 * redirects a core can answer. The api keeps its own copy of the route for
 * single-process deployments; `PUBLIC_LINK_BASE` decides which one
 * recipients reach. No Redis, no queues, no sessions: a database pool for
 * cache misses and click flushes only.
 *
 * `GET /health` is liveness: redirects of cached links and buffered clicks
 * keep working through a database outage (the buffer's gauges and alerts say
 * when flushes fail), so a database error must not take it out of rotation.
 * `GET /metrics` needs METRICS_TOKEN like the api's. Anything else: the
 * links' constant 404, with no hint of what exists.
 */
export function createLinksApp(deps: LinksDeps): LinksApp {
  const links = shortLinks(deps);
  const scrape = { registry: deps.metrics.registry, token: deps.config.METRICS_TOKEN };
  const hops = deps.config.TRUST_PROXY;


  const metrics = (req: IncomingMessage, res: ServerResponse): void => {
    scrapeMetrics(scrape, req.headers.authorization).then(
      (exposition) => {
        if (!exposition) {
          const err = new AppError('UNAUTHENTICATED', 'Metrics token required');
          return json(res, err.status, { error: { code: err.code, message: err.message } });
        }
        res.writeHead(200, { 'Content-Type': exposition.contentType });
        res.end(exposition.body);
      },
      (err: unknown) => {
        deps.logger.error({ err }, 'links: metrics scrape failed');
        plain(res, 500, 'Internal error\n');
      },
    );
  };

  const listener: RequestListener = (req, res) => {
    try {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      if (req.method !== 'GET' && req.method !== 'HEAD') return plain(res, 404, NOT_FOUND_BODY);
      if (path === '/health') return json(res, 200, { status: 'ok', clicksBuffered: links.clicks.size });
      if (path === '/metrics') return metrics(req, res);
      const linkReq: LinkRequest = Object.assign(req, { path, ip: clientAddress(req, hops) });
      links.handler(linkReq, res, () => plain(res, 404, NOT_FOUND_BODY));
    } catch (err) {
      deps.logger.error({ err }, 'links: request failed');
      if (!res.headersSent) plain(res, 500, 'Internal error\n');
    }
  };
  return { listener, clicks: links.clicks };
}
