import type { RequestHandler } from 'express';
import { AppError } from '../../../../lib/errors';
import { verifyInternalRequest } from '../../../../domain/ops/internal-signature';

/**
 * HMAC-signed internal requests (the on-call CLI). Runs after express.raw so
 * the signature covers the exact bytes sent; the parsed JSON is put on req.body.
 */
export function internalAuth(secret: string, now: () => Date): RequestHandler {
  return (req, _res, next) => {
    const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    const ok = verifyInternalRequest(
      secret,
      { method: req.method, path: req.originalUrl.split('?')[0] ?? '', rawBody: raw, timestamp: req.get('x-internal-timestamp'), signature: req.get('x-internal-signature') },
      Math.floor(now().getTime() / 1000),
    );
    if (!ok) {
      next(new AppError('INVALID_SIGNATURE', 'Internal request signature missing, wrong or expired'));
      return;
    }
    try {
      req.body = raw.length > 0 ? (JSON.parse(raw) as unknown) : {};
    } catch {
      next(new AppError('VALIDATION_FAILED', 'Request body is not valid JSON'));
      return;
    }
    next();
  };
}
