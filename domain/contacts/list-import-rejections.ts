import { z } from 'zod';
import type { DbOrTx } from '../../lib/db';
import { readCursorJson, writeCursorJson } from '../../lib/cursor';
import { notFound } from '../../lib/errors';
import type { ImportRejection } from './import-contacts';

export const listImportRejectionsQuerySchema = z
  .object({
    limit: z.string().regex(/^[0-9]{1,4}$/, 'must be an integer').transform(Number).pipe(z.number().int().min(1).max(200)).optional(),
    cursor: z.string().max(200).optional(),
  })
  .strict();

export type ListImportRejectionsQuery = z.output<typeof listImportRejectionsQuerySchema>;

// The cursor is the last row index of the page.
const encodeRowCursor = (row: number): string => writeCursorJson({ row });

const decodeRowCursor = (raw: string): number =>
  readCursorJson(raw, ({ row }) => (typeof row === 'number' && Number.isInteger(row) && row >= 0 && row <= 2_147_483_647 ? row : null));

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
