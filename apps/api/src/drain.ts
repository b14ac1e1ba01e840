import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/**
 * Makes a drain end. server.close() stops accepting connections but goes on
 * serving the open keep-alive ones, which a load balancer's pool keeps
 * reusing while the drain lasts. Once draining, every response (in flight,
 * or a new request on an old connection) says `Connection: close`, so each
 * connection ends with the response it carries.
 */
export function connectionDrain(server: Server): { start(): void } {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  // Prepended: it must see the response before the app can send its headers.
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (draining) {
      res.setHeader('Connection', 'close');
      return;
    }
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });
  return {
    start() {
      draining = true;
      for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
      server.closeIdleConnections();
    },
  };
}
