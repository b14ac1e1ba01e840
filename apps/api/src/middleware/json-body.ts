import express, { type RequestHandler } from 'express';
import { AppError } from '../../../../lib/errors';
import { boundedBody, declaresBody } from './body-limit';

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * JSON bodies only, bounded per route: a non-JSON body is 415, an oversized
 * one 413 (before it is read when its length is declared). `larger` names the
 * routes allowed more than `limitBytes`, as `METHOD path` relative to the
 * mount point, spelled exactly (routing is case-sensitive and strict, so any
 * other spelling is no route and gets the default).
 */
export function jsonBody(limitBytes: number, larger: Record<string, number> = {}): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    if (BODY_METHODS.has(req.method) && declaresBody(req) && !req.is('application/json')) {
      next(new AppError('UNSUPPORTED_MEDIA_TYPE', 'Request body must be application/json'));
      return;
    }
    next();
  };
  const parser = (limit: number): RequestHandler => boundedBody(express.json({ limit, strict: true, type: 'application/json' }), limit);
  const byDefault = parser(limitBytes);
  const byRoute = new Map(Object.entries(larger).map(([route, limit]) => [route, parser(limit)]));
  const parse: RequestHandler = (req, res, next) => (byRoute.get(`${req.method} ${req.path}`) ?? byDefault)(req, res, next);
  return [requireJson, parse];
}
