import { z } from 'zod';
import type { DbOrTx } from '../../lib/db';
import { AppError, notFound } from '../../lib/errors';
import type { ImportRejection } from './import-contacts';

export const listImportRejectionsQuerySchema = z
  .object({
    limit: z.string().regex(/^[0-9]{1,4}$/, 'must be an integer').transform(Number).pipe(z.number().int().min(1).max(200)).optional(),
    cursor: z.string().max(200).optional(),
  })
  .strict();

export type ListImportRejectionsQuery = z.output<typeof listImportRejectionsQuerySchema>;

// The cursor is the last row index of the page, opaque to clients (base64url JSON).
const encodeRowCursor = (row: number): string => Buffer.from(JSON.stringify({ row })).toString('base64url');

function decodeRowCursor(raw: string): number {
  const invalid = (): AppError => new AppError('VALIDATION_FAILED', 'Invalid cursor', { details: [{ path: 'cursor', message: 'not a cursor returned by this API' }] });
  if (!/^[A-Za-z0-9_-]+$/.test(raw)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  const row = (parsed as { row?: unknown } | null)?.row;
  if (typeof row !== 'number' || !Number.isInteger(row) || row < 0 || row > 2_147_483_647) throw invalid();
  return row;
}

/** GET /api/contacts/imports/:id/rejections: every rejection of this shop's import, by row, keyset-paged. */
export async function listImportRejections(
  db: DbOrTx,
  shopId: string,
  importId: string,
  query: ListImportRejectionsQuery,
): Promise<{ data: ImportRejection[]; nextCursor: string | null }> {
  const limit = query.limit ?? 50;
  const after = query.cursor === undefined ? -1 : decodeRowCursor(query.cursor);
  const [imp] = await db.$queryRaw<{ id: string }[]>`SELECT id FROM contact_imports WHERE id = ${importId}::uuid AND shop_id = ${shopId}::uuid`;
  if (!imp) throw notFound('Contact import');
  const rows = await db.$queryRaw<ImportRejection[]>`
    SELECT row_index AS row, code, message FROM contact_import_rejections
     WHERE import_id = ${importId}::uuid AND row_index > ${after}
     ORDER BY row_index LIMIT ${limit + 1}`;
  const page = rows.slice(0, limit);
  return { data: page, nextCursor: rows.length > limit ? encodeRowCursor(page[page.length - 1]!.row) : null };
}
