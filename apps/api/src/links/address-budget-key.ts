import ipaddr from 'ipaddr.js';

/**
 * The key a per-address limit counts a client under: an IPv4 address as it
 * is, an IPv6 one by its /64. One subscriber (a phone, a home) holds a whole
 * /64 and may send each request from a new address of it, so a limit keyed by
 * the full address bounds nothing, and every address is one more key kept in
 * memory for the window. An IPv4-mapped IPv6 address is its IPv4 address.
 */
export function addressBudgetKey(ip: string | undefined): string {
  if (ip === undefined) return '';
  // Not an address (a proxy chain misconfigured with more hops than there are): bounded like one.
  if (!ipaddr.isValid(ip)) return ip.slice(0, 64);
  const address = ipaddr.process(ip);
  if (address.kind() === 'ipv4') return address.toString();
  const parts = (address as ipaddr.IPv6).parts.slice(0, 4);
  return `${parts.map((p) => p.toString(16)).join(':')}::/64`;
}
