import type { DbOrTx } from '../../lib/db';
import type { HeldKey, StoredResponse } from './types';

/**
 * Stores a 2xx response for replay. Fenced: a holder whose key was taken over
 * stores nothing and gets false. Returns whether the response was stored.
 */
export async function completeIdempotencyKey(db: DbOrTx, held: HeldKey, response: StoredResponse, ttlMs: number): Promise<boolean> {
  if (response.status < 200 || response.status > 299) throw new RangeError(`only 2xx responses are stored, got ${response.status}`);
  const n = await db.$executeRaw`
    UPDATE idempotency_keys
       SET status = 'completed', response_status = ${response.status}::int,
           response_body = ${response.body === null ? null : JSON.stringify(response.body)}::jsonb,
           response_headers = ${JSON.stringify(response.headers)}::jsonb,
           expires_at = now() + ${ttlMs}::float8 * interval '1 millisecond', updated_at = now()
     WHERE id = ${held.id}::uuid AND fence = ${held.fence}::int AND status = 'in_progress'`;
  return n === 1;
}
