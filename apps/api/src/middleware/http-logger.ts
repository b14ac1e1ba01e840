import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { AccessSummary } from './access-summary';

/** Routes summarised per second instead of logged per request (AccessSummary). */
const SUMMARISED = '/webhooks/';

export type HttpLogger = RequestHandler & {
  /** Writes the pending per-route summary lines now (shutdown, tests). */
  flushSummaries(): void;
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

  // Webhooks: no per-request logger at all (pino-http makes two child
  // loggers per request); answered requests go into the route's summary, and
  // an error is also logged on its own line, as pino-http would.
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
      const ms = performance.now() - started;
      const path = pathOf(req.originalUrl);
      // A request the client gave up on before the answer counts as 499 (nginx's convention).
      const status = res.writableFinished ? res.statusCode : 499;
      summary.record(path, status, ms);
      if (status >= 400) {
        const level = status >= 500 ? 'error' : 'warn';
        logger[level](
          { req: { method: req.method, url: path, id: String(res.getHeader('X-Request-Id') ?? '') }, res: { statusCode: status }, responseTime: Math.round(ms) },
          status === 499 ? 'request aborted' : 'request completed',
        );
      }
    };
    res.once('finish', finish);
    res.once('close', finish);
    next();
  };
  return Object.assign(middleware, { flushSummaries: () => summary.flush() });
}
