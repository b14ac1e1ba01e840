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
   * For a caller whose whole business outcome is one statement: a CTE
   * returning one row while the key is held (none once it was taken over),
   * which the writes depend on. It locks the key row without writing it, so
   * the same statement can still complete it (storeSql).
   */
  heldSql(): Sql;
  /**
   * A CTE of that same statement which completes the key with `response`
   * when the CTE named `after` returned rows (the outcome happened): the
   * outcome and its stored response commit together, and the request needs
   * no statement of its own to store it. The caller reports success with
   * `stored(response)` and must send exactly that status and body (JSON).
   */
  storeSql(response: JsonResponse, after: Sql): Sql;
  /**
   * Completes the key with `response` inside the business transaction `tx`
   * (after its writes): the outcome and its replay commit together, so an
   * outcome whose response was never recorded cannot happen, and neither can
   * its re-execution by a retry. Throws (rolling `tx` back) when the key was
   * taken over. After the commit the caller reports `stored(response)` and
   * sends exactly that status, body (JSON) and Location.
   */
  storeInTx(tx: Tx, response: JsonResponse): Promise<void>;
  stored(response: JsonResponse): void;
}

/** A JSON response stored together with the outcome (content-type application/json). */
export interface JsonResponse {
  status: number;
  body: string;
  /** The `Location` the response carries, replayed with it. */
  location?: string;
}

/** For requests sent without a key (optional-key routes) and for internal callers. */
export const UNGUARDED: IdempotencyGuard = {
  assertHeld: async () => undefined,
  heldSql: () => sql`SELECT 1`,
  storeSql: () => sql`SELECT 1 WHERE false`,
  storeInTx: async () => undefined,
  stored: () => undefined,
};

/** What a replay of a JSON response repeats (what res.json sets). */
export const JSON_RESPONSE_HEADERS: Readonly<Record<string, string>> = { 'content-type': 'application/json; charset=utf-8' };

/**
 * The fencing check. The UPDATE locks the key row until the business
 * transaction ends, so a takeover (which needs the lease to have run out)
 * waits for it and then finds the lease renewed; a takeover that came first
 * moved `fence`, and this matches nothing.
 */
export function fencedGuard(
  held: HeldKey,
  opts: { leaseMs: number; completedTtlMs: number; onStored?: (response: JsonResponse) => void },
): IdempotencyGuard {
  const mine = sql`id = ${held.id}::uuid AND fence = ${held.fence}::int AND status = 'in_progress'`;
  return {
    async assertHeld(tx) {
      const renewed = await tx.$executeRaw`
        UPDATE idempotency_keys
           SET locked_until = GREATEST(locked_until, now() + ${opts.leaseMs}::float8 * interval '1 millisecond'), updated_at = now()
         WHERE ${mine}`;
      if (renewed !== 1) throw takenOver();
    },
    // A lock, not a lease renewal: the statement ends (and the lock with it)
    // long before any lease could, and an UPDATE here would be the row's one
    // change in this statement, leaving storeSql none to make.
    heldSql: () => sql`SELECT id FROM idempotency_keys WHERE ${mine} FOR UPDATE`,
    storeSql: (response, after) => sql`
      UPDATE idempotency_keys
         SET status = 'completed', response_status = ${response.status}::int,
             response_body = ${JSON.stringify(response.body)}::jsonb,
             response_headers = ${JSON.stringify(JSON_RESPONSE_HEADERS)}::jsonb,
             expires_at = now() + ${opts.completedTtlMs}::float8 * interval '1 millisecond', updated_at = now()
       WHERE ${mine} AND EXISTS (SELECT 1 FROM ${after})
      RETURNING id`,
    async storeInTx(tx, response) {
      const headers = response.location === undefined ? JSON_RESPONSE_HEADERS : { ...JSON_RESPONSE_HEADERS, location: response.location };
      const completed = await tx.$executeRaw`
        UPDATE idempotency_keys
           SET status = 'completed', response_status = ${response.status}::int,
               response_body = ${JSON.stringify(response.body)}::jsonb,
               response_headers = ${JSON.stringify(headers)}::jsonb,
               expires_at = now() + ${opts.completedTtlMs}::float8 * interval '1 millisecond', updated_at = now()
         WHERE ${mine}`;
      if (completed !== 1) throw takenOver();
    },
    stored: (response) => opts.onStored?.(response),
  };
}

export function takenOver(): AppError {
  return new AppError('REQUEST_IN_PROGRESS', 'A retry with the same Idempotency-Key has taken this request over', {
    headers: { 'Retry-After': '1' },
  });
}
