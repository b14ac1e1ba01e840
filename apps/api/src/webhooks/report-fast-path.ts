import type { IncomingMessage, ServerResponse } from 'node:http';
import { simulatorSignatureMayPass } from '../../../../domain/messaging/providers/simulator-signature';
import { isSmsCallbackProvider, mittoTokenValid, type SmsCallbackProvider } from '../../../../domain/webhooks/verify-sms-callback';
import type { ApiDeps } from '../deps';
import { renderError } from '../middleware/error-handler';
import type { HttpLogger } from '../middleware/http-logger';
import { requestIdOf } from '../middleware/request-context';
import { receiveDeliveryReports, verifiedCallbackBody, type SmsCallbackCredentials } from './delivery-report-callback';
import { SMS_BODY_LIMIT, smsSecrets } from './raw-body';

/** The route, as the full stack declares it too (sms.routes.ts): one metric label for both. */
export const REPORT_ROUTE = '/webhooks/sms/:provider/status';
const PREFIX = '/webhooks/sms/';
const SUFFIX = '/status';
const JSON_TYPE = 'application/json; charset=utf-8';

/** Answers the request and returns true, or returns false (untouched) for the full stack to answer. */
export type FastPath = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * `POST /webhooks/sms/:provider/status` for the common case, ahead of
 * Express and every middleware: a provider posting one delivery report per
 * request (Mitto) sends thousands a second, and Express's routing, the
 * per-request middleware (request context, access logger, metrics, body
 * parser) and its response helpers cost more of the api's CPU than the
 * report itself (docs/performance.md, "One report per request").
 *
 * Taken only by a request the full stack would read: exactly this path for a
 * known provider, its credential present and able to pass (one right `token`
 * for Mitto, a simulator signature within its window: the full stack refuses
 * the others unread), a declared
 * length within the limit, no transfer or content encoding and no `Expect`.
 * Anything else (a missing credential, an oversized or chunked body,
 * 100-continue, an unknown provider, a respelt path) is left to the full
 * stack, which has the answer for it. Once taken, the request gets the same
 * answer, error shape, request id, metrics and access summary as the full
 * route's.
 */
export function reportFastPath(deps: ApiDeps, access: HttpLogger): FastPath {
  const { metrics, logger } = deps;
  // Label children made once per status: prom-client hashes a label object on every call.
  const observers = new Map<number, { count: { inc(): void }; duration: { observe(v: number): void } }>();
  const observe = (status: number, seconds: number): void => {
    let o = observers.get(status);
    if (!o) {
      const labels = { method: 'POST', route: REPORT_ROUTE, status: String(status) };
      o = { count: metrics.httpRequests.labels(labels), duration: metrics.httpDuration.labels(labels) };
      observers.set(status, o);
    }
    o.count.inc();
    o.duration.observe(seconds);
  };

  return (req, res) => {
    const target = takenBy(req, deps);
    if (target === null) return false;
    const { provider, path, credentials } = target;
    const started = performance.now();
    const requestId = requestIdOf(req);
    const chunks: Buffer[] = [];
    let size = 0;
    let answered = false;

    const done = (status: number): void => {
      const ms = performance.now() - started;
      // As httpMetrics: an answered request only (it counts on 'finish'); the access summary takes the 499 too.
      if (status !== 499) observe(status, ms / 1000);
      access.recordSummarised({ method: 'POST', path, requestId, status, ms });
    };
    const answer = (status: number, body: object, headers: Record<string, string> = {}): void => {
      if (answered) return;
      answered = true;
      const json = JSON.stringify(body);
      res.writeHead(status, { ...headers, 'X-Request-Id': requestId, 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(json) });
      res.end(json);
      done(status);
    };
    const fail = (err: unknown): void => {
      const r = renderError(logger, err, { requestId, method: 'POST', route: REPORT_ROUTE });
      answer(r.status, r.body, r.headers);
    };

    // No 'error' listener: node emits an aborted upload's error only to a
    // listener, and 'close' below accounts for it.
    req.on('data', (c: Buffer) => {
      chunks.push(c);
      size += c.length;
    });
    req.on('end', () => {
      const raw = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      let body: unknown;
      try {
        body = verifiedCallbackBody(deps, provider, credentials, raw);
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
    return true;
  };
}

interface Target {
  provider: SmsCallbackProvider;
  /** Without the query (Mitto's secret travels there). */
  path: string;
  credentials: SmsCallbackCredentials;
}

function takenBy(req: IncomingMessage, deps: Pick<ApiDeps, 'config' | 'now'>): Target | null {
  const url = req.url ?? '';
  if (req.method !== 'POST' || !url.startsWith(PREFIX)) return null;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (!path.endsWith(SUFFIX)) return null;
  const provider = path.slice(PREFIX.length, path.length - SUFFIX.length);
  if (!isSmsCallbackProvider(provider)) return null;
  const h = req.headers;
  const length = h['content-length'];
  if (length === undefined || h['transfer-encoding'] !== undefined || h.expect !== undefined) return null;
  if (h['content-encoding'] !== undefined && h['content-encoding'] !== 'identity') return null;
  const n = Number(length);
  if (!(n > 0 && n <= SMS_BODY_LIMIT)) return null;
  if (provider === 'simulator') {
    // One that cannot verify whatever the body (no digest, outside its window) is the full stack's to refuse unread.
    const signature = h['x-simulator-signature'];
    return signature === undefined || !simulatorSignatureMayPass(signature, Math.floor(deps.now().getTime() / 1000)) ? null : { provider, path, credentials: { signature, token: undefined } };
  }
  // Mitto: exactly one `token`, and the right one (the full stack refuses the rest unread).
  const tokens = q === -1 ? [] : new URLSearchParams(url.slice(q + 1)).getAll('token');
  const token = tokens.length === 1 ? tokens[0] : undefined;
  return token !== undefined && mittoTokenValid(smsSecrets(deps), token) ? { provider, path, credentials: { signature: undefined, token } } : null;
}

/**
 * Puts the fast path in front of the app: Express calls `app.handle` for
 * every request it is given (by server.ts's listener and by supertest alike).
 */
export function serveFirst(app: { handle?: unknown }, fast: FastPath): void {
  const handle = app.handle;
  // Express's own dispatch; if a release ever renames it, fail at start, not per request.
  if (typeof handle !== 'function') throw new Error('report fast path: this Express has no app.handle');
  app.handle = function (this: unknown, req: IncomingMessage, res: ServerResponse, callback?: unknown): unknown {
    if (fast(req, res)) return undefined;
    return (handle as (...a: unknown[]) => unknown).call(this, req, res, callback);
  };
}
