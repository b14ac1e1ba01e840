// Anything a Location header cannot carry as written: node refuses characters
// past U+00FF (writeHead throws) and sends U+0080–U+00FF as Latin-1 bytes,
// which browsers do not read back as the URL written.
const NOT_PRINTABLE_ASCII = /[^\x21-\x7e]/;

/**
 * The destination of a redirect: the body's URL with utm_source=sms,
 * utm_medium=<app>, utm_campaign=<campaign id> appended to its query, before
 * any fragment. An ASCII URL is kept byte for byte (its query is not
 * re-encoded); one written with other characters (`https://bücher.example/€`)
 * is first serialised as a browser would request it (IDN host in punycode,
 * the rest percent-encoded UTF-8), since a header holds ASCII only. A UTM
 * parameter the merchant already wrote stays theirs.
 */
export function withUtm(written: string, utm: { medium: string; campaign: string }): string {
  const url = NOT_PRINTABLE_ASCII.test(written) ? new URL(written).href : written;
  const hashAt = url.indexOf('#');
  const beforeHash = hashAt === -1 ? url : url.slice(0, hashAt);
  const fragment = hashAt === -1 ? '' : url.slice(hashAt);
  const queryAt = beforeHash.indexOf('?');
  const query = queryAt === -1 ? '' : beforeHash.slice(queryAt + 1);
  const has = new Set(query.split('&').map((kv) => decodeSafe(kv.split('=')[0] ?? '').toLowerCase()));
  const add = [
    ['utm_source', 'sms'],
    ['utm_medium', utm.medium],
    ['utm_campaign', utm.campaign],
  ]
    .filter(([k]) => !has.has(k as string))
    .map(([k, v]) => `${k}=${encodeURIComponent(v as string)}`)
    .join('&');
  if (add === '') return url;
  const sep = queryAt === -1 ? '?' : query === '' || query.endsWith('&') ? '' : '&';
  return `${beforeHash}${sep}${add}${fragment}`;
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
