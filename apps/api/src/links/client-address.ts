import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

/**
 * The client's address behind `hops` proxies, as Express' `trust proxy` with
 * a hop count gives it (both are proxy-addr): from the socket's peer
 * leftwards through X-Forwarded-For, one entry per trusted proxy. Entries
 * further left were written by the client and name nobody.
 */
export function clientAddress(req: IncomingMessage, hops: number): string | undefined {
  if (hops <= 0) return req.socket.remoteAddress;
  return proxyaddr(req, (_address, i) => i < hops);
}
