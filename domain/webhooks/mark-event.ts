import { ZodError } from 'zod';
import { empty, sql, type DbOrTx, type Sql } from '../../lib/db';
import { pgErrorCode } from '../../lib/pg-errors';
import { scrubText } from '../../lib/logger';
import type { HandlerOutcome } from './types';

/**
 * Marks the event done. Handlers call it inside the transaction of their
 * effect, so "processed" and the effect commit together or not at all.
 * `shopId` fills in the shop when only processing learns it (a delivery
 * report), so erasing a shop can find every event of it.
 */
export async function markEventOutcome(tx: DbOrTx, eventRowId: string, outcome: HandlerOutcome, shopId: string | null = null, o: { onlyOpen?: boolean } = {}): Promise<number> {
  return tx.$executeRaw(markEventsSql([eventRowId], outcome, shopId, o));
}

/** The statement markEventOutcome runs, for several events, for a caller that runs it inside a statement of its own. */
export function markEventsSql(eventRowIds: string[], outcome: HandlerOutcome, shopId: string | null = null, o: { onlyOpen?: boolean } = {}): Sql {
  return sql`
    UPDATE webhook_events
       SET status = ${outcome}, processed_at = now(), attempts = attempts + 1, last_error = NULL, next_attempt_at = NULL,
           shop_id = COALESCE(shop_id, ${shopId}::uuid)
     WHERE id = ANY(${eventRowIds}::uuid[]) ${o.onlyOpen ? sql`AND status = 'received'` : empty}`;
}

/** A short error description for `last_error`: codes and our own messages, never values or PII. */
export function describeError(err: unknown): string {
  const code = pgErrorCode(err);
  if (code) return `postgres error ${code}`;
  // Zod's own message is a multi-line JSON dump; its issues name paths and expectations, not values.
  if (err instanceof ZodError) {
    return `ZodError: ${err.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`.slice(0, 200);
  }
  const e = err as { name?: unknown; message?: unknown };
  const name = typeof e?.name === 'string' ? e.name : 'Error';
  const message = typeof e?.message === 'string' ? scrubText(e.message.split('\n')[0] ?? '') : '';
  return `${name}: ${message}`.slice(0, 200);
}

/**
 * Records a failed attempt. A non-final failure leaves the row open
 * (`received`); the final one closes it as `failed` or `dropped`.
 */
export async function recordEventFailure(db: DbOrTx, eventRowId: string, error: string, finalStatus: 'failed' | 'dropped' | null): Promise<void> {
  await db.$executeRaw`
    UPDATE webhook_events
       SET attempts = attempts + 1, last_error = ${error},
           status = COALESCE(${finalStatus}::text, status)
     WHERE id = ${eventRowId}::uuid`;
}
