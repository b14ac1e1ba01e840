import type { RequestHandler, Response } from 'express';
import { declaresBody } from './body-limit';

/**
 * A response sent before its request's body has arrived closes the
 * connection. Node would otherwise read and discard the rest of the body to
 * reuse the connection, so a refused upload (401, 404, 413) would still be
 * received in full: 8 MB for an unauthenticated request.
 */
export function closeUnreadBodies(): RequestHandler {
  return (req, res, next) => {
    const writeHead = res.writeHead as (...args: unknown[]) => Response;
    res.writeHead = function (this: Response, ...args: unknown[]): Response {
      if (!req.complete && declaresBody(req)) this.setHeader('Connection', 'close');
      return writeHead.apply(this, args);
    } as Response['writeHead'];
    next();
  };
}
