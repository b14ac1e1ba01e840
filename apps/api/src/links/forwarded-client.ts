/**
 * The client's address behind `hops` proxies, as Express' `trust proxy` with
 * a hop count gives it (proxy-addr): from the socket's address leftwards
 * through X-Forwarded-For, one entry per trusted proxy. Entries further left
 * were written by the client and name nobody.
 */
export function forwardedClient(socketAddress: string | undefined, forwardedFor: string, hops: number): string | undefined {
  const entries = forwardedFor
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length === 0) return socketAddress;
  // chain[0] is the socket's peer, chain[i] the address the i-th proxy saw.
  const i = Math.min(hops, entries.length);
  return entries[entries.length - i];
}
