import type { DbOrTx } from '../../lib/db';

/**
 * Gives up on an import (final attempt failed, too many runs, or its rows are
 * gone). The staged rows (PII) are deleted in the statement that ends it.
 */
export async function failContactImport(db: DbOrTx, importId: string, error: string): Promise<boolean> {
  const [row] = await db.$queryRaw<{ failed: number }[]>`
    WITH failed AS (
      UPDATE contact_imports SET status = 'failed', error = ${error.slice(0, 200)}, completed_at = now(), updated_at = now()
       WHERE id = ${importId}::uuid AND status IN ('queued', 'running')
      RETURNING id
    ), dropped AS (
      DELETE FROM contact_import_rows WHERE import_id IN (SELECT id FROM failed)
    )
    SELECT count(*)::int AS failed FROM failed`;
  return (row?.failed ?? 0) > 0;
}
