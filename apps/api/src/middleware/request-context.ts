import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { runWithContext } from '../../../../lib/context';

// A client's X-Request-Id is echoed when it is sane; otherwise we mint one.
// It becomes the trace id of everything this request causes.
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestContext(): RequestHandler {
  return (req, res, next) => {
    const incoming = req.get('x-request-id');
    const requestId = incoming && SAFE_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    res.locals.requestId = requestId;
    runWithContext({ requestId, traceId: requestId }, () => next());
  };
}
