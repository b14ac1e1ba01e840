import type { Request, RequestHandler, Response } from 'express';
import type { IncomingMessage, Server } from 'node:http';
import { AppError } from '../../../../lib/errors';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** The request says it carries a body: a non-zero Content-Length, or chunked. */
export function declaresBody(req: Request): boolean {
  const len = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (len !== undefined && len !== '0');
}

const awaitingContinue = new WeakSet<IncomingMessage>();

/**
 * Node answers `Expect: 100-continue` with "100 Continue" as soon as the head
 * arrives, so a client that waits for it uploads before anything is checked.
 * With this, the interim answer goes out only when a route is about to read
 * the body (boundedBody): an unauthenticated or oversized request gets its
 * final answer instead and never sends the body.
 */
export function deferContinue(server: Server): void {
  server.on('checkContinue', (req: IncomingMessage, res) => {
    awaitingContinue.add(req);
    server.emit('request', req, res);
  });
}

function allowUpload(req: Request, res: Response): void {
  if (awaitingContinue.delete(req)) res.writeContinue();
}

const tooLarge = (): AppError => new AppError('PAYLOAD_TOO_LARGE', 'Request body is too large');

/**
 * Runs `parse` (a body-parser) with its limit enforced before reading.
 * body-parser refuses an oversized body only once it has read all of it (it
 * drains the request to keep the connection), so 8 MB declared to a 1 MiB
 * route were received in full before the 413. Here a declared length over the
 * limit is refused without reading a byte, and an undeclared (chunked) body
 * as soon as it passes the limit; the response then closes the connection
 * (closeUnreadBodies) instead of draining the rest.
 */
export function boundedBody(parse: RequestHandler, limitBytes: number): RequestHandler {
  return (req, res, next) => {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > limitBytes) {
      next(tooLarge());
      return;
    }
    allowUpload(req, res);
    let settled = false;
    let received = 0;
    const settle = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      req.off('data', count);
      next(err);
    };
    const count = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limitBytes) settle(tooLarge());
    };
    void parse(req, res, settle);
    // Counted only while the parser reads (its listener is attached by now): a body it skips stays unread.
    if (!settled && declared === undefined && req.listenerCount('data') > 0) req.on('data', count);
  };
}
