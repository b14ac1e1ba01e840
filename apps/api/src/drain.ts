import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { armExitDeadline } from '../../../lib/shutdown';

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

/**
 * The HTTP entry points' stop (api, links): on SIGTERM/SIGINT stop
 * accepting, let in-flight requests finish (each connection closed after its
 * response; the rest closed after `timeoutMs`), then `close` what the
 * process holds and exit 0. The whole stop is bounded by `timeoutMs` +
 * CLOSE_GRACE_MS (lib/shutdown.ts), past which it exits 1.
 */
export function stopOnSignals(server: Server, o: { name: string; logger: Logger; timeoutMs: number; close: () => Promise<void> }): void {
  const drain = connectionDrain(server);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    // The listener closes before "draining" is logged: whoever reads that
    // line (an orchestrator, a test) may rely on new connections being
    // refused. The log is asynchronous, so logging first let a preempted
    // process announce the drain while it still accepted.
    server.close(() => {
      void o.close().finally(() => {
        o.logger.info(`${o.name} stopped`);
        process.exit(0);
      });
    });
    drain.start();
    o.logger.info({ signal }, `${o.name} draining`);
    armExitDeadline(o.logger, o.timeoutMs);
    setTimeout(() => {
      o.logger.warn('drain timed out; closing remaining connections');
      server.closeAllConnections();
    }, o.timeoutMs).unref();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
