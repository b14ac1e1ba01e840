/**
 * Text Postgres cannot store: NUL (not in any text or jsonb value) and a
 * UTF-16 surrogate without its pair (JSON.stringify writes it as a `\ud800`
 * escape, which jsonb refuses). Both are valid in a JSON body a sender signed.
 */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, 'g');

export const isStorableText = (s: string): boolean => !UNSTORABLE.test(s);

/** Where the first character Postgres cannot store is, or -1. */
export const unstorableIndex = (s: string): number => s.search(UNSTORABLE);

/**
 * `value` with every unstorable character of its strings and keys replaced by
 * U+FFFD (the replacement character), so a signed body that carries one can
 * still be kept; everything else is left as it was.
 */
export function toStorable(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(UNSTORABLE_ALL, '\uFFFD');
  if (Array.isArray(value)) return value.map(toStorable);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replace(UNSTORABLE_ALL, '\uFFFD'), toStorable(v)]));
  }
  return value;
}

/**
 * `s` cut to at most `max` UTF-16 units without splitting a character: a cut
 * between the two halves of a surrogate pair (an emoji) leaves a lone
 * surrogate, which jsonb refuses.
 */
export function cutText(s: string, max: number): string {
  const t = s.slice(0, max);
  return t.length === max && /[\uD800-\uDBFF]$/.test(t) ? t.slice(0, -1) : t;
}
