import type { Db } from '../../lib/db';

/** Gives up on an import (final attempt failed, or its rows are gone); the rows are dropped. */
export async function failContactImport(db: Db, importId: string, error: string): Promise<void> {
  await db.$executeRaw`
    UPDATE contact_imports SET status = 'failed', error = ${error.slice(0, 200)}, rows = NULL, completed_at = now(), updated_at = now()
     WHERE id = ${importId}::uuid AND status IN ('queued', 'running')`;
}
