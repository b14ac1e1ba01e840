import { sql, type Sql, type Tx } from '../../lib/db';
import { AppError } from '../../lib/errors';
import type { HeldKey } from './types';

/**
 * Handed to a domain function whose write must happen at most once per
 * Idempotency-Key. Call `assertHeld(tx)` inside the business transaction,
 * before or after its writes: it fails (and so rolls the transaction back)
 * when a retry has taken the key over since this request claimed it.
 */
export interface IdempotencyGuard {
  assertHeld(tx: Tx): Promise<void>;
  /**
   * The same check as a statement returning one row while the key is held
   * (and none once it was taken over), for a caller whose whole business
   * outcome is one statement: it goes in as a CTE the writes depend on.
   */
  heldSql(): Sql;
}

/** For requests sent without a key (optional-key routes) and for internal callers. */
export const UNGUARDED: IdempotencyGuard = { assertHeld: async () => undefined, heldSql: () => sql`SELECT 1` };

/**
 * The fencing check. The UPDATE locks the key row until the business
 * transaction ends, so a takeover (which needs the lease to have run out)
 * waits for it and then finds the lease renewed; a takeover that came first
 * moved `fence`, and this matches nothing.
 */
export function fencedGuard(held: HeldKey, leaseMs: number): IdempotencyGuard {
  const renew = (): Sql => sql`
    UPDATE idempotency_keys
       SET locked_until = GREATEST(locked_until, now() + ${leaseMs}::float8 * interval '1 millisecond'), updated_at = now()
     WHERE id = ${held.id}::uuid AND fence = ${held.fence}::int AND status = 'in_progress'
    RETURNING id`;
  return {
    async assertHeld(tx) {
      if ((await tx.$executeRaw(renew())) !== 1) throw takenOver();
    },
    heldSql: renew,
  };
}

export function takenOver(): AppError {
  return new AppError('REQUEST_IN_PROGRESS', 'A retry with the same Idempotency-Key has taken this request over', {
    headers: { 'Retry-After': '1' },
  });
}
