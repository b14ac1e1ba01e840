import type { RedisClient } from '../../lib/redis';

/**
 * A row's place in a step's scan order: its sort columns as text (timestamps
 * as ISO strings, then the columns that break ties), compared in SQL as a
 * row value: `(updated_at, id) > (${k[0]}::timestamptz, ${k[1]}::uuid)`.
 */
export type Keyset = string[];

/**
 * Where each reconciliation step's scan resumes. A step scans its candidates
 * oldest first, `limit` per pass; candidates whose job is alive stay
 * candidates, so without a cursor every pass would look at the same oldest
 * `limit` rows and one behind them (a lost job) would wait until they all
 * finished, hours for a big campaign or a quiet-hours backlog.
 */
export interface PassCursors {
  read(step: string): Promise<Keyset | null>;
  write(step: string, next: Keyset | null): Promise<void>;
}

/** Always from the oldest row: what a one-off call (a test, a caller without Redis) gets. */
export const FROM_OLDEST: PassCursors = { read: async () => null, write: async () => undefined };

// A cursor is a hint: lost (Redis restart, expiry) the scan starts again from the oldest row.
const CURSOR_TTL_SEC = 24 * 3_600;

/** Cursors in Redis under the queue prefix, one key per step. */
export function redisPassCursors(redis: RedisClient, prefix: string): PassCursors {
  const key = (step: string): string => `${prefix}:reconcile-cursor:${step}`;
  return {
    // Unreadable (the slot of QUEUE_PREFIX's tag failing over, a value of another shape): from the oldest,
    // so the rest of the pass still runs.
    async read(step) {
      try {
        const stored = await redis.get(key(step));
        if (!stored) return null;
        const parsed: unknown = JSON.parse(stored);
        return Array.isArray(parsed) && parsed.length > 0 && parsed.every((x) => typeof x === 'string') ? parsed : null;
      } catch {
        return null;
      }
    },
    async write(step, next) {
      try {
        if (next) await redis.set(key(step), JSON.stringify(next), 'EX', CURSOR_TTL_SEC);
        else await redis.del(key(step));
      } catch {
        // The next pass starts from the oldest rows again, as if the cursor had expired.
      }
    },
  };
}

/**
 * One pass of a step over its candidates in a fixed order, `limit` rows,
 * resuming after the last row the previous pass took and wrapping around to
 * the oldest when it reaches the end (so a pass takes `limit` rows whenever
 * there are that many). Over successive passes every candidate is looked at,
 * whatever the rows ahead of it do; the work per pass stays `limit` rows.
 * `query(after, limit)` returns candidates strictly after `after` (all of
 * them when null) in the step's order. Concurrent passes (the scheduler and
 * an operator's `reconcile`) may take overlapping rows: each step is
 * idempotent, so that only costs the repeat.
 */
export async function scanRotating<T>(
  cursors: PassCursors,
  step: string,
  limit: number,
  query: (after: Keyset | null, limit: number) => Promise<T[]>,
  keyOf: (row: T) => Keyset,
): Promise<T[]> {
  const after = await cursors.read(step);
  const rows = await query(after, limit);
  if (after && rows.length < limit) {
    // Wrapped: the oldest rows, up to the ones this pass already took (a short list would otherwise repeat them).
    const seen = new Set(rows.map((r) => JSON.stringify(keyOf(r))));
    for (const r of await query(null, limit - rows.length)) if (!seen.has(JSON.stringify(keyOf(r)))) rows.push(r);
  }
  // A full pass continues after its last row; a short one has seen everything, and the next starts from the oldest.
  const last = rows.at(-1);
  await cursors.write(step, rows.length >= limit && last ? keyOf(last) : null);
  return rows;
}
