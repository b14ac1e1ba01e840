import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { isDbUnavailableError } from '../../../../lib/db';
import { AppError, ERROR_STATUS, type ErrorCode } from '../../../../lib/errors';
import { zodDetails } from '../validation';

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
  if (isDbUnavailableError(err) || isRedisUnavailable(err)) {
    return new AppError('DEPENDENCY_UNAVAILABLE', 'A backing service is unavailable; retry later', { headers: { 'Retry-After': '5' }, cause: err });
  }
  return new AppError('INTERNAL', 'Internal error', { cause: err });
}

/** Renders api.md's error shape; never a stack trace, SQL text or internal message. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const appErr = toAppError(err);
    const requestId = String(res.getHeader('X-Request-Id') ?? '');
    const status = ERROR_STATUS[appErr.code as ErrorCode];
    if (status >= 500) {
      logger.error({ err: appErr.cause ?? err, code: appErr.code, method: req.method, route: req.route?.path, requestId }, 'request failed');
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    for (const [k, v] of Object.entries(appErr.headers ?? {})) res.setHeader(k, v);
    const body: { code: string; message: string; requestId: string; details?: unknown } = {
      code: appErr.code,
      message: appErr.message,
      requestId,
    };
    if (appErr.details !== undefined) body.details = appErr.details;
    res.status(status).json({ error: body });
  };
}
