import { AppError } from './errors';

// Keyset pagination over (created_at DESC, id DESC): the cursor is the last
// row's sort key, opaque to clients (base64url JSON) so its shape can change.

export interface Cursor {
  createdAt: Date;
  id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// Every date JavaScript parses is not one Postgres accepts (year -100000 is
// "timestamp out of range", a 500): a cursor's date must be one we could have
// written, in the exact form encodeCursor writes it.
const MIN_CURSOR_MS = Date.UTC(1970, 0, 1);
const MAX_CURSOR_MS = Date.UTC(10_000, 0, 1);

export const invalidCursor = (): AppError => new AppError('VALIDATION_FAILED', 'Invalid cursor', { details: [{ path: 'cursor', message: 'not a cursor returned by this API' }] });

/** Any cursor of ours: a JSON object as base64url. */
export function writeCursorJson(key: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

/**
 * Reads a client's cursor with `read`, which returns null for a shape we did
 * not mint; anything we did not mint is a 400 on `cursor`.
 */
export function readCursorJson<T>(raw: string, read: (parsed: Record<string, unknown>) => T | null): T {
  if (raw.length > 200 || !/^[A-Za-z0-9_-]+$/.test(raw)) throw invalidCursor();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  const value = parsed !== null && typeof parsed === 'object' ? read(parsed as Record<string, unknown>) : null;
  if (value === null) throw invalidCursor();
  return value;
}

export function encodeCursor(c: Cursor): string {
  return writeCursorJson({ createdAt: c.createdAt.toISOString(), id: c.id });
}

/** Decodes a client's (created_at, id) cursor. */
export function decodeCursor(raw: string): Cursor {
  return readCursorJson(raw, (p) => {
    if (typeof p.createdAt !== 'string' || typeof p.id !== 'string' || !UUID.test(p.id)) return null;
    const createdAt = new Date(p.createdAt);
    const ms = createdAt.getTime();
    if (Number.isNaN(ms) || ms < MIN_CURSOR_MS || ms >= MAX_CURSOR_MS || createdAt.toISOString() !== p.createdAt) return null;
    return { createdAt, id: p.id };
  });
}

/** `{data, nextCursor}` from a page fetched with limit + 1 rows. */
export function pageOf<R extends { created_at: Date; id: string }, V>(rows: R[], limit: number, view: (r: R) => V): { data: V[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { data: page.map(view), nextCursor: rows.length > limit && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null };
}
