import express, { type RequestHandler } from 'express';
import { AppError } from '../../../../lib/errors';

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function hasBody(req: { headers: Record<string, unknown> }): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

/** JSON bodies only, bounded: a non-JSON body is 415, an oversized one 413. */
export function jsonBody(limit: string): RequestHandler[] {
  const requireJson: RequestHandler = (req, _res, next) => {
    if (BODY_METHODS.has(req.method) && hasBody(req) && !req.is('application/json')) {
      next(new AppError('UNSUPPORTED_MEDIA_TYPE', 'Request body must be application/json'));
      return;
    }
    next();
  };
  return [requireJson, express.json({ limit, strict: true, type: 'application/json' })];
}
