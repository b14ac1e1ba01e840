import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { AccessSummary } from './access-summary';

/** Routes summarised per second instead of logged per request (AccessSummary). */
const SUMMARISED = '/webhooks/';

/** One answered (or abandoned) request of a summarised route. */
export interface SummarisedRequest {
  method: string;
  /** The path without its query (Mitto's callback URL carries its secret there). */
  path: string;
  requestId: string;
  /** 499 when the client gave up before the answer. */
  status: number;
  ms: number;
}

export type HttpLogger = RequestHandler & {
  /** Writes the pending per-route summary lines now (shutdown, tests). */
  flushSummaries(): void;
  /** Records a request of a summarised route answered outside this middleware (the report fast path). */
  recordSummarised(r: SummarisedRequest): void;
};

const pathOf = (url: string): string => url.split('?')[0] ?? '';

export function httpLogger(logger: Logger, o: { summaryIntervalMs?: number } = {}): HttpLogger {
  const perRequest = pinoHttp({
    logger,
    genReqId: (_req, res) => String(res.getHeader('X-Request-Id') ?? ''),
    // Health probes and scrapes would drown every other line.
    autoLogging: { ignore: (req) => req.url === '/health' || req.url === '/metrics' },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    serializers: {
      // Never the query: Mitto's callback URL carries its secret there.
      req: (req: { method: string; url: string; id: unknown }) => ({ method: req.method, url: pathOf(req.url), id: req.id }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  });
  const summary = new AccessSummary(logger, o.summaryIntervalMs);

  // Answered requests go into the route's summary; an error is also logged on its own line, as pino-http would.
  const recordSummarised = (r: SummarisedRequest): void => {
    summary.record(r.path, r.status, r.ms);
    if (r.status < 400) return;
    logger[r.status >= 500 ? 'error' : 'warn'](
      { req: { method: r.method, url: r.path, id: r.requestId }, res: { statusCode: r.status }, responseTime: Math.round(r.ms) },
      r.status === 499 ? 'request aborted' : 'request completed',
    );
  };

  // Webhooks: no per-request logger at all (pino-http makes two child loggers per request).
  const middleware: RequestHandler = (req, res, next) => {
    if (!req.url.startsWith(SUMMARISED)) {
      perRequest(req, res, next);
      return;
    }
    const started = performance.now();
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      recordSummarised({
        method: req.method,
        path: pathOf(req.originalUrl),
        requestId: String(res.getHeader('X-Request-Id') ?? ''),
        // A request the client gave up on before the answer counts as 499 (nginx's convention).
        status: res.writableFinished ? res.statusCode : 499,
        ms: performance.now() - started,
      });
    };
    res.once('finish', finish);
    res.once('close', finish);
    next();
  };
  return Object.assign(middleware, { flushSummaries: () => summary.flush(), recordSummarised });
}
