import ipaddr from 'ipaddr.js';

// An address some proxies (Azure's, among others) write into X-Forwarded-For
// with the client's source port, IPv6 in brackets: "203.0.113.7:52044",
// "[2001:db8::1]:52044" (or bracketed without a port).
const WITH_PORT = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}|\[([^\]]{1,64})\](?::\d{1,5})?)$/;

/**
 * The key a per-address limit counts a client under: an IPv4 address as it
 * is, an IPv6 one by its /64. One subscriber (a phone, a home) holds a whole
 * /64 and may send each request from a new address of it, so a limit keyed by
 * the full address bounds nothing, and every address is one more key kept in
 * memory for the window. An IPv4-mapped IPv6 address is its IPv4 address. A
 * source port a proxy wrote beside the address is no part of it: each new
 * connection has a new one, so keyed with it the limit bounded nothing again.
 */
export function addressBudgetKey(ip: string | undefined): string {
  if (ip === undefined) return '';
  const m = ipaddr.isValid(ip) ? null : WITH_PORT.exec(ip);
  const bare = m ? (m[1] ?? m[2])! : ip;
  // Not an address (a proxy chain misconfigured with more hops than there are): bounded like one.
  if (!ipaddr.isValid(bare)) return ip.slice(0, 64);
  const address = ipaddr.process(bare);
  if (address.kind() === 'ipv4') return address.toString();
  const parts = (address as ipaddr.IPv6).parts.slice(0, 4);
  return `${parts.map((p) => p.toString(16)).join(':')}::/64`;
}
