/**
 * The destination of a redirect: the body's URL with utm_source=sms,
 * utm_medium=<app>, utm_campaign=<campaign id> appended to its query, before
 * any fragment. The URL is kept byte for byte (its query is not re-encoded);
 * a UTM parameter the merchant already wrote stays theirs.
 */
export function withUtm(url: string, utm: { medium: string; campaign: string }): string {
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
