import type { DbOrTx } from '../../lib/db';
import { notFound } from '../../lib/errors';
import type { ImportProgress, ImportRejection } from './import-contacts';

export interface ContactImportView extends ImportProgress {
  id: string;
  rejected: ImportRejection[];
  error: string | null;
}

/** GET /api/contacts/imports/:id (this shop's imports only). */
export async function getContactImport(db: DbOrTx, shopId: string, id: string): Promise<ContactImportView> {
  const [row] = await db.$queryRaw<ContactImportView[]>`
    SELECT id, status, total, processed, created, updated, rejected, error
      FROM contact_imports WHERE id = ${id}::uuid AND shop_id = ${shopId}::uuid`;
  if (!row) throw notFound('Contact import');
  return row;
}
