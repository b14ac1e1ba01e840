import type { DbOrTx } from '../../lib/db';
import { notFound } from '../../lib/errors';
import type { ImportProgress, ImportRejection } from './import-contacts';

/** Rejections quoted in the status body; the rest are paged by GET …/rejections. */
export const STATUS_REJECTIONS = 100;

export interface ContactImportView extends ImportProgress {
  id: string;
  /** The first STATUS_REJECTIONS rejections by row. */
  rejected: ImportRejection[];
  rejectedCount: number;
  error: string | null;
}

/** GET /api/contacts/imports/:id (this shop's imports only). */
export async function getContactImport(db: DbOrTx, shopId: string, id: string): Promise<ContactImportView> {
  const [imp] = await db.$queryRaw<Omit<ContactImportView, 'rejected'>[]>`
    SELECT id, status, total, processed, created, updated, rejected_count AS "rejectedCount", error
      FROM contact_imports WHERE id = ${id}::uuid AND shop_id = ${shopId}::uuid`;
  if (!imp) throw notFound('Contact import');
  const rejected = await db.$queryRaw<ImportRejection[]>`
    SELECT row_index AS row, code, message FROM contact_import_rejections
     WHERE import_id = ${id}::uuid ORDER BY row_index LIMIT ${STATUS_REJECTIONS}`;
  const { rejectedCount, error, ...progress } = imp;
  return { ...progress, rejected, rejectedCount, error };
}
