import { AppError } from '../../lib/errors';

export const IDEMPOTENCY_KEY_MAX = 255;

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

function invalid(message: string): AppError {
  return new AppError('IDEMPOTENCY_KEY_INVALID', message, { details: [{ path: 'Idempotency-Key', message }] });
}

// RFC 8941 sf-string: DQUOTE *( unescaped / "\" ( DQUOTE / "\" ) ) DQUOTE,
// where unescaped is printable ASCII except DQUOTE and backslash.
function unquote(raw: string): string {
  let out = '';
  for (let i = 1; i < raw.length - 1; i++) {
    const ch = raw[i] as string;
    if (ch === '\\') {
      const next = raw[i + 1];
      if (i + 1 >= raw.length - 1 || (next !== '"' && next !== '\\')) throw invalid('Idempotency-Key has an invalid escape in its quoted form');
      out += next;
      i++;
    } else if (ch === '"') {
      throw invalid('Idempotency-Key has an unescaped quote in its quoted form');
    } else {
      out += ch;
    }
  }
  return out;
}

/**
 * The key named by an `Idempotency-Key` header, or null when the header is
 * absent. A quoted RFC 8941 string (`"abc"`) and the bare form (`abc`) name
 * the same key, so both normalise to `abc`.
 */
export function parseIdempotencyKey(header: string | string[] | undefined): string | null {
  if (header === undefined) return null;
  if (Array.isArray(header)) throw invalid('Idempotency-Key must be sent once');
  const raw = header.trim();
  if (raw !== '' && !PRINTABLE_ASCII.test(raw)) throw invalid('Idempotency-Key must be printable ASCII');
  const quoted = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"');
  const key = quoted ? unquote(raw) : raw;
  if (key.length === 0) throw invalid('Idempotency-Key must not be empty');
  if (key.length > IDEMPOTENCY_KEY_MAX) throw invalid(`Idempotency-Key must be at most ${IDEMPOTENCY_KEY_MAX} characters`);
  return key;
}
