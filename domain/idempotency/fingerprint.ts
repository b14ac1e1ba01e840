import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every depth: reordered keys serialise the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** SHA-256 (hex) of the canonical request: route params and body. */
export function requestFingerprint(req: { params: Record<string, unknown>; body: unknown }): string {
  return createHash('sha256').update(canonicalJson({ params: req.params, body: req.body ?? {} })).digest('hex');
}
