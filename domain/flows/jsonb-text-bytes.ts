const utf8 = new TextEncoder();
const bytesOf = (json: string): number => utf8.encode(json).length;

/**
 * How many bytes `value` takes as Postgres prints a jsonb (`octet_length(x::text)`),
 * which is what a CHECK on a jsonb column's size measures: JSON with a space
 * after each `:` and `,`, strings escaped as JSON.stringify escapes them
 * (`\"`, `\\`, `\n`, a control character as a 6-byte `\u00XX`). Object keys
 * are reordered in jsonb, which changes no length.
 */
export function jsonbTextBytes(value: unknown): number {
  if (Array.isArray(value)) {
    return 2 + value.reduce<number>((n, v, i) => n + jsonbTextBytes(v) + (i > 0 ? 2 : 0), 0);
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    return 2 + entries.reduce<number>((n, [k, v], i) => n + bytesOf(JSON.stringify(k)) + 2 + jsonbTextBytes(v) + (i > 0 ? 2 : 0), 0);
  }
  return bytesOf(JSON.stringify(value) ?? 'null');
}
