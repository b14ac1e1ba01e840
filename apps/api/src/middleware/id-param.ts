import type { RequestHandler } from 'express';
import { notFound } from '../../../../lib/errors';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Ids are UUIDs; one of another shape names nothing, so it is 404 NOT_FOUND
 * like any unknown id (not 400: the client did not send a malformed body).
 * Runs before the idempotency layer, so such a request never claims a key.
 */
export function idParam(what: string, name = 'id'): RequestHandler {
  return (req, _res, next) => {
    const value = req.params[name];
    next(typeof value === 'string' && UUID.test(value) ? undefined : notFound(what));
  };
}
