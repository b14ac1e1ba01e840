import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { IncomingMessage } from 'node:http';
import { runWithContext } from '../../../../lib/context';

// A client's X-Request-Id is echoed when it is sane; otherwise we mint one.
// It becomes the trace id of everything this request causes.
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's id when sane, else a fresh one. */
export function requestIdOf(req: Pick<IncomingMessage, 'headers'>): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && SAFE_ID.test(incoming) ? incoming : randomUUID();
}

export function requestContext(): RequestHandler {
  return (req, res, next) => {
    const requestId = requestIdOf(req);
    res.setHeader('X-Request-Id', requestId);
    res.locals.requestId = requestId;
    runWithContext({ requestId, traceId: requestId }, () => next());
  };
}
