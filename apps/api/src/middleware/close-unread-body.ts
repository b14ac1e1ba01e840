import type { RequestHandler, Response } from 'express';
import type { Socket } from 'node:net';
import { declaresBody, MiB } from './body-limit';

/** How long, and for how many more bytes, a refused upload's connection is read after the answer. */
export const LINGER_MS = 1_000;
export const LINGER_BYTES = MiB;
const LINGER_POLL_MS = 50;

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
      if (!req.complete && declaresBody(req)) {
        this.setHeader('Connection', 'close');
        lingerOnClose(req.socket);
      }
      return writeHead.apply(this, args);
    } as Response['writeHead'];
    next();
  };
}

/**
 * Closing a socket whose peer is still sending makes the kernel answer with a
 * reset, and a reset can make the client's kernel discard the answer it had
 * already received but not yet read: the uploader sees ECONNRESET instead of
 * its 413. So, as web servers do ("lingering close"), the server sends its
 * FIN after the answer, goes on reading (and discarding) for a short while so
 * the answer can be read, and destroys the socket when the client closes its
 * side, after LINGER_MS, or after LINGER_BYTES more: bounded, so a client
 * that keeps uploading gains nothing.
 */
function lingerOnClose(socket: Socket): void {
  socket.destroySoon = function (this: Socket): void {
    if (this.writable) this.end();
    const readAtClose = this.bytesRead;
    const stop = (): void => {
      clearInterval(poll);
      clearTimeout(deadline);
      this.destroy();
    };
    // The HTTP parser consumes the socket natively (no 'data' events), so its byte count is polled.
    const poll = setInterval(() => {
      if (this.bytesRead - readAtClose > LINGER_BYTES) stop();
    }, LINGER_POLL_MS);
    const deadline = setTimeout(stop, LINGER_MS);
    poll.unref();
    deadline.unref();
    this.once('end', stop);
    this.once('close', stop);
  };
}
