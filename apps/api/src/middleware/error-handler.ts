import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { isDbUnavailableError } from '../../../../lib/db';
import { AppError, ERROR_STATUS, type ErrorCode } from '../../../../lib/errors';
import { zodDetails } from '../validation';
import { requestIdOf } from './request-context';

export const notFoundHandler: RequestHandler = (_req, _res, next) => {
  next(new AppError('NOT_FOUND', 'Route not found'));
};

function isRedisUnavailable(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : '';
  return /Stream isn't writeable|enableOfflineQueue|Connection is closed|ECONNREFUSED.*6379|Command timed out|Redis not ready/i.test(msg);
}

/** Maps anything thrown to a known error; unknown errors become INTERNAL. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof ZodError) return new AppError('VALIDATION_FAILED', 'Request is invalid', { details: zodDetails(err) });
  const e = err as { type?: string; status?: number; expose?: boolean };
  // body-parser's errors carry a `type`; they are the client's mistake.
  if (e?.type === 'entity.too.large') return new AppError('PAYLOAD_TOO_LARGE', 'Request body is too large');
  if (e?.type === 'entity.parse.failed') return new AppError('VALIDATION_FAILED', 'Request body is not valid JSON', { details: [{ path: '', message: 'invalid JSON' }] });
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported') return new AppError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported body encoding');
  if (e?.type === 'request.aborted') return new AppError('VALIDATION_FAILED', 'Request aborted');
  // The router could not percent-decode a path parameter: like any id of the
  // wrong shape, it names nothing (id-param.ts).
  if (err instanceof URIError) return new AppError('NOT_FOUND', 'Route not found');
  // Any other error body-parser raises for what the client sent (a compressed
  // body that does not inflate, a bad length): 4xx by http-errors' own mark.
  if (e?.expose === true && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    if (e.status === 413) return new AppError('PAYLOAD_TOO_LARGE', 'Request body is too large');
    if (e.status === 415) return new AppError('UNSUPPORTED_MEDIA_TYPE', 'Unsupported body encoding');
    return new AppError('VALIDATION_FAILED', 'Request body could not be read', { details: [{ path: '', message: 'unreadable body' }] });
  }
  if (isDbUnavailableError(err) || isRedisUnavailable(err)) {
    return new AppError('DEPENDENCY_UNAVAILABLE', 'A backing service is unavailable; retry later', { headers: { 'Retry-After': '5' }, cause: err });
  }
  return new AppError('INTERNAL', 'Internal error', { cause: err });
}

export interface RenderedError {
  status: number;
  headers: Record<string, string>;
  body: { error: { code: string; message: string; requestId: string; details?: unknown } };
}

/**
 * api.md's error shape for anything thrown; never a stack trace, SQL text or
 * internal message. A 5xx is logged with its cause.
 */
export function renderError(logger: Logger, err: unknown, where: { requestId: string; method: string; route: string | undefined }): RenderedError {
  const appErr = toAppError(err);
  const status = ERROR_STATUS[appErr.code as ErrorCode];
  if (status >= 500) {
    logger.error({ err: appErr.cause ?? err, code: appErr.code, method: where.method, route: where.route, requestId: where.requestId }, 'request failed');
  }
  const error: RenderedError['body']['error'] = { code: appErr.code, message: appErr.message, requestId: where.requestId };
  if (appErr.details !== undefined) error.details = appErr.details;
  return { status, headers: { ...appErr.headers }, body: { error } };
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    // The short-link route runs before requestContext: its errors get an id here.
    if (!res.headersSent && res.getHeader('X-Request-Id') === undefined) res.setHeader('X-Request-Id', requestIdOf(req));
    const requestId = String(res.getHeader('X-Request-Id') ?? '');
    const rendered = renderError(logger, err, { requestId, method: req.method, route: req.route?.path });
    if (res.headersSent) {
      res.end();
      return;
    }
    for (const [k, v] of Object.entries(rendered.headers)) res.setHeader(k, v);
    res.status(rendered.status).json(rendered.body);
  };
}
