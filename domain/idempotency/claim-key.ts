import type { DbOrTx } from '../../lib/db';
import type { ClaimResult, IdempotencyScope, StoredResponse } from './types';

interface KeyRow {
  id: string;
  fingerprint: string;
  status: 'in_progress' | 'completed' | 'failed';
  fence: number;
  lease_expired: boolean;
  expired: boolean;
  response_status: number | null;
  response_body: unknown;
  response_headers: unknown;
}

export interface ClaimOptions {
  fingerprint: string;
  requestId?: string;
  leaseMs: number;
  /** How long an abandoned claim is kept; the cleanup job deletes it after. */
  abandonedTtlMs: number;
}

/**
 * Claims a key for one execution, or says why not. Every decision is one
 * guarded statement, so concurrent callers can never both win:
 * - no row: the INSERT … ON CONFLICT DO NOTHING winner executes;
 * - completed (same fingerprint): replay the stored response;
 * - failed, an expired lease, or a row past its retention: taken over by
 *   bumping `fence` WHERE fence = old — the old holder's fenced writes and
 *   completion then match nothing;
 * - in progress within its lease: the caller answers 409;
 * - a different fingerprint: 422, nothing executed.
 * Times are the database's clock, shared by every API process.
 */
export async function claimIdempotencyKey(db: DbOrTx, scope: IdempotencyScope, opts: ClaimOptions): Promise<ClaimResult> {
  const lease = Math.max(1, Math.round(opts.leaseMs));
  const abandoned = Math.max(lease, Math.round(opts.abandonedTtlMs));
  // A row can vanish between the insert and the read (cleanup of an expired
  // key): then the insert is simply tried again.
  for (let attempt = 0; attempt < 3; attempt++) {
    // One round trip for the usual cases: the INSERT claims a new key, or the
    // same statement reads the stored row (a replay answers from it). The
    // read shares the statement's snapshot, so a row committed by a racing
    // request just after it began is invisible to it: then neither part
    // returns anything and the loop reads it with a statement of its own.
    const rows = await db.$queryRaw<(KeyRow & { inserted: boolean })[]>`
      WITH claimed AS (
        INSERT INTO idempotency_keys (shop_id, method, route, key, fingerprint, status, fence, locked_until, request_id, expires_at)
        VALUES (${scope.shopId}::uuid, ${scope.method}, ${scope.route}, ${scope.key}, ${opts.fingerprint}, 'in_progress', 1,
                now() + ${lease}::float8 * interval '1 millisecond', ${opts.requestId ?? null}, now() + ${abandoned}::float8 * interval '1 millisecond')
        ON CONFLICT (shop_id, method, route, key) DO NOTHING
        RETURNING id, fence
      )
      SELECT id, NULL AS fingerprint, 'in_progress' AS status, fence, false AS lease_expired, false AS expired,
             NULL::int AS response_status, NULL::jsonb AS response_body, NULL::jsonb AS response_headers, true AS inserted
        FROM claimed
      UNION ALL
      SELECT id, fingerprint, status, fence, locked_until < now(), expires_at < now(),
             response_status, response_body, response_headers, false
        FROM idempotency_keys
       WHERE shop_id = ${scope.shopId}::uuid AND method = ${scope.method} AND route = ${scope.route} AND key = ${scope.key}
         AND NOT EXISTS (SELECT 1 FROM claimed)`;
    const first = rows[0];
    if (first?.inserted) return { kind: 'claimed', takeover: false, id: first.id, fence: first.fence };

    const row =
      first ??
      (
        await db.$queryRaw<KeyRow[]>`
          SELECT id, fingerprint, status, fence, locked_until < now() AS lease_expired, expires_at < now() AS expired,
                 response_status, response_body, response_headers
            FROM idempotency_keys
           WHERE shop_id = ${scope.shopId}::uuid AND method = ${scope.method} AND route = ${scope.route} AND key = ${scope.key}`
      )[0];
    if (!row) continue;

    if (!row.expired) {
      if (row.fingerprint !== opts.fingerprint) return { kind: 'reused' };
      if (row.status === 'completed') return { kind: 'replay', response: storedResponse(row) };
      if (row.status === 'in_progress' && !row.lease_expired) return { kind: 'in_progress' };
    }

    const taken = await db.$queryRaw<{ fence: number }[]>`
      UPDATE idempotency_keys
         SET status = 'in_progress', fence = fence + 1, fingerprint = ${opts.fingerprint},
             locked_until = now() + ${lease}::float8 * interval '1 millisecond', request_id = ${opts.requestId ?? null},
             response_status = NULL, response_body = NULL, response_headers = NULL,
             expires_at = now() + ${abandoned}::float8 * interval '1 millisecond', updated_at = now()
       WHERE id = ${row.id}::uuid AND fence = ${row.fence}::int
         AND (status = 'failed' OR (status = 'in_progress' AND locked_until < now()) OR expires_at < now())
      RETURNING fence`;
    // Losing this race means another retry took the key a moment earlier.
    if (!taken[0]) return { kind: 'in_progress' };
    return { kind: 'claimed', takeover: row.status === 'in_progress', id: row.id, fence: taken[0].fence };
  }
  return { kind: 'in_progress' };
}

function storedResponse(row: KeyRow): StoredResponse {
  const headers = row.response_headers && typeof row.response_headers === 'object' ? (row.response_headers as Record<string, string>) : {};
  return {
    status: row.response_status ?? 200,
    body: typeof row.response_body === 'string' ? row.response_body : row.response_body == null ? null : JSON.stringify(row.response_body),
    headers,
  };
}
