import { isIPv4, isIPv6 } from 'node:net';

const MAPPED_V4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * The key a per-address limit counts a client under: an IPv4 address as it
 * is, an IPv6 one by its /64. One subscriber (a phone, a home) holds a whole
 * /64 and may send each request from a new address of it, so a limit keyed by
 * the full address bounds nothing, and every address is one more key kept in
 * memory for the window. An IPv4-mapped IPv6 address is its IPv4 address.
 */
export function addressBudgetKey(ip: string | undefined): string {
  if (ip === undefined) return '';
  const mapped = MAPPED_V4.exec(ip);
  if (mapped) return mapped[1] as string;
  const address = ip.replace(/%.*$/, ''); // a zone id names an interface, not a client
  if (isIPv4(address)) return address;
  // Not an address (a proxy chain misconfigured with more hops than there are): bounded like one.
  if (!isIPv6(address)) return ip.slice(0, 64);
  return `${hextets(address).slice(0, 4).join(':')}::/64`;
}

/** The eight hextets of a valid IPv6 address, lower-case without leading zeros (an embedded IPv4 tail counts as two). */
function hextets(address: string): string[] {
  const gap = address.indexOf('::');
  const split = (s: string): string[] => (s === '' ? [] : s.split(':').flatMap((h) => (h.includes('.') ? ['0', '0'] : [h])));
  const head = split(gap === -1 ? address : address.slice(0, gap));
  const tail = gap === -1 ? [] : split(address.slice(gap + 2));
  const all = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  return all.map((h) => parseInt(h, 16).toString(16));
}
