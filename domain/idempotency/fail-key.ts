import type { DbOrTx } from '../../lib/db';
import type { HeldKey } from './types';

/**
 * Marks a held key failed after a 4xx/5xx outcome, so a retry with the same
 * key executes again. Fenced like completion; returns whether it applied.
 */
export async function failIdempotencyKey(db: DbOrTx, held: HeldKey, responseStatus: number, ttlMs: number): Promise<boolean> {
  const n = await db.$executeRaw`
    UPDATE idempotency_keys
       SET status = 'failed', response_status = ${responseStatus}::int, response_body = NULL, response_headers = NULL,
           locked_until = now(), expires_at = now() + ${ttlMs}::float8 * interval '1 millisecond', updated_at = now()
     WHERE id = ${held.id}::uuid AND fence = ${held.fence}::int AND status = 'in_progress'`;
  return n === 1;
}
