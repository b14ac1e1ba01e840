import type { NextFunction, Request, Response } from 'express';
import { isSmsCallbackProvider, type SmsCallbackProvider } from '../../../../domain/webhooks/verify-sms-callback';
import type { ApiDeps } from '../deps';
import { KiB } from '../middleware/body-limit';
import { renderError } from '../middleware/error-handler';
import type { HttpLogger } from '../middleware/http-logger';
import { observeRequest } from '../middleware/http-metrics';
import { requestIdOf } from '../middleware/request-context';
import { receiveDeliveryReports, verifiedCallbackBody } from './delivery-report-callback';

/** The route, as the full stack declares it too (sms.routes.ts): one metric label for both. */
export const REPORT_ROUTE = '/webhooks/sms/:provider/status';
/** The sms sender's body limit (raw-body.ts): a larger declared body goes the full way, to its 413. */
const LIMIT = 64 * KiB;
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * `POST /webhooks/sms/:provider/status` for the common case, ahead of every
 * middleware like the short links: a provider posting one delivery report
 * per request (Mitto) sends thousands a second, and the per-request stack
 * (request context, access logger, metrics, body parser, Express's response
 * helpers) cost ~0.2 ms of the api's CPU per report, several times the work
 * of the report itself (docs/performance.md, "One report per request").
 *
 * Taken only by a request the full stack would read: a known provider, a
 * credential present, a declared length within the limit, no transfer or
 * content encoding and no `Expect`. Anything else (a missing credential, an
 * oversized or chunked body, 100-continue, an unknown provider) goes on to the
 * full stack (`next()`), which has the answer for it. Once taken, the request
 * gets the same answer, error shape, request id, metrics and access summary
 * as the full route's.
 */
export function reportFastPath(deps: ApiDeps, access: HttpLogger): (req: Request, res: Response, next: NextFunction) => void {
  const { metrics, logger } = deps;
  return (req, res, next) => {
    const provider = String(req.params.provider);
    if (!isSmsCallbackProvider(provider) || !takes(req, provider)) {
      next();
      return;
    }
    const started = performance.now();
    const requestId = requestIdOf(req);
    const chunks: Buffer[] = [];
    let size = 0;
    let answered = false;

    const answer = (status: number, body: object, headers: Record<string, string> = {}): void => {
      if (answered) return;
      answered = true;
      const json = JSON.stringify(body);
      res.writeHead(status, { ...headers, 'X-Request-Id': requestId, 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(json) });
      res.end(json);
      done(status);
    };
    const done = (status: number): void => {
      const ms = performance.now() - started;
      observeRequest(metrics, 'POST', REPORT_ROUTE, status, ms / 1000);
      access.recordSummarised({ method: 'POST', path: pathOf(req.url), requestId, status, ms });
    };
    const fail = (err: unknown): void => {
      const r = renderError(logger, err, { requestId, method: 'POST', route: REPORT_ROUTE });
      answer(r.status, r.body, r.headers);
    };

    // An aborted upload errors the request stream; 'close' below accounts for it.
    req.on('error', () => undefined);
    req.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
    });
    req.on('end', () => {
      const raw = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      let body: unknown;
      try {
        body = verifiedCallbackBody(deps, provider, credentialsOf(req, provider), raw);
      } catch (err) {
        fail(err);
        return;
      }
      receiveDeliveryReports(deps, provider, body, raw, requestId).then((result) => answer(200, result), fail);
    });
    // The client gave up (closed mid-body or before the answer): counted as 499, as the full stack does.
    res.once('close', () => {
      if (answered) return;
      answered = true;
      done(499);
    });
  };
}

function takes(req: Request, provider: SmsCallbackProvider): boolean {
  const h = req.headers;
  const length = h['content-length'];
  if (length === undefined || h['transfer-encoding'] !== undefined || h.expect !== undefined) return false;
  if (h['content-encoding'] !== undefined && h['content-encoding'] !== 'identity') return false;
  const n = Number(length);
  if (!(n > 0 && n <= LIMIT)) return false;
  return provider === 'simulator' ? h['x-simulator-signature'] !== undefined : typeof req.query.token === 'string';
}

const credentialsOf = (req: Request, provider: SmsCallbackProvider) =>
  provider === 'simulator' ? { signature: req.headers['x-simulator-signature'], token: undefined } : { signature: undefined, token: req.query.token };

const pathOf = (url: string): string => {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
};
