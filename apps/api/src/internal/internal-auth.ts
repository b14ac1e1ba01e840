import type { RequestHandler } from 'express';
import type { RedisClient } from '../../../../lib/redis';
import { AppError } from '../../../../lib/errors';
import { INTERNAL_TOLERANCE_SEC, internalHeadersMayPass, verifyInternalRequest } from '../../../../domain/ops/internal-signature';

const refused = (): AppError => new AppError('INVALID_SIGNATURE', 'Internal request signature missing, wrong, expired or already used');

/**
 * Before the body is read (the signature covers it, so it must be read to
 * verify): a request whose headers already fail (no signature, a timestamp
 * outside the window) is refused unread, with no 100 Continue, like an
 * unsigned webhook delivery.
 */
export function internalHeadersPresent(now: () => Date): RequestHandler {
  return (req, _res, next) => {
    const headers = { timestamp: req.get('x-internal-timestamp'), nonce: req.get('x-internal-nonce'), signature: req.get('x-internal-signature') };
    next(internalHeadersMayPass(headers, Math.floor(now().getTime() / 1000)) ? undefined : refused());
  };
}

/**
 * HMAC-signed internal requests (the on-call CLI). Runs after express.raw so
 * the signature covers the exact bytes sent; the parsed JSON is put on req.body.
 * A verified request's nonce (or, in the contract's nonce-less form, its
 * signature) is spent with SET NX: a second use of it (a captured request
 * replayed) is refused. The key lives as long as a
 * timestamp can be accepted (±window), so a nonce can never come back.
 */
export function internalAuth(secret: string, now: () => Date, nonces: { redis: RedisClient; prefix: string }): RequestHandler {
  return async (req, _res, next) => {
    const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    const nonce = req.get('x-internal-nonce');
    const spend = verifyInternalRequest(
      secret,
      { method: req.method, pathWithQuery: req.originalUrl, rawBody: raw, timestamp: req.get('x-internal-timestamp'), nonce, signature: req.get('x-internal-signature') },
      Math.floor(now().getTime() / 1000),
    );
    // Only a correctly signed request reaches Redis: nobody else can fill it with nonces.
    const fresh = spend !== null && (await nonces.redis.set(`${nonces.prefix}:internal-nonce:${spend}`, '1', 'EX', 2 * INTERNAL_TOLERANCE_SEC + 1, 'NX')) === 'OK';
    if (!fresh) {
      next(refused());
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
