import type { Logger } from 'pino';
import type { Db } from '../../lib/db';
import { AppError } from '../../lib/errors';
import { scrubText } from '../../lib/logger';

// The on-call's hand on a dead outbox event (`npm run ops -- outbox:requeue`
// / `outbox:delete`, POST /internal/outbox/:id/requeue|delete;
// docs/runbooks/outbox.md): a row the dispatcher set aside after its job
// schema kept refusing its payload. Requeued, it goes back to the
// dispatcher's next pass as if new; deleted, its work is given up for good.
// Only a dead row is touched (the guard is in the statement, so a row the
// dispatcher or another on-call changed meanwhile is left alone), and who,
// why and what the row was are logged: the record of a by-hand change.

export interface DeadOutboxResult {
  id: string;
  outcome: 'requeued' | 'deleted';
  eventType: string;
  aggregateId: string;
  /** The row as it was when set aside. */
  attempts: number;
  lastError: string | null;
  deadAt: string;
}

interface DeadRow {
  id: bigint;
  event_type: string;
  aggregate_id: string;
  attempts: number;
  last_error: string | null;
  dead_at: Date;
}

/** Outbox ids are bigserial: a decimal string of a positive bigint. */
export function parseOutboxId(text: string): bigint | null {
  if (!/^[1-9][0-9]{0,18}$/.test(text)) return null;
  const id = BigInt(text);
  return id <= 9_223_372_036_854_775_807n ? id : null;
}

async function refusal(db: Db, id: bigint, action: string): Promise<AppError> {
  const [row] = await db.$queryRaw<{ published: boolean }[]>`SELECT published_at IS NOT NULL AS published FROM outbox_events WHERE id = ${id}`;
  if (!row) return new AppError('NOT_FOUND', 'Outbox event not found');
  const status = row.published ? 'published' : 'pending';
  return new AppError('INVALID_STATE', `Only a dead outbox event can be ${action}; this one is ${status}`, { details: { status } });
}

function resultOf(row: DeadRow, outcome: DeadOutboxResult['outcome']): DeadOutboxResult {
  return { id: String(row.id), outcome, eventType: row.event_type, aggregateId: row.aggregate_id, attempts: row.attempts, lastError: row.last_error, deadAt: row.dead_at.toISOString() };
}

function audit(logger: Logger, r: DeadOutboxResult, o: { reason: string; operator?: string }, msg: string): void {
  // Ids and the stored error only, never the payload; the reason is the operator's free text, masked like any message's.
  logger.warn(
    { outboxId: r.id, eventType: r.eventType, aggregateId: r.aggregateId, attempts: r.attempts, lastError: r.lastError, deadAt: r.deadAt, operator: o.operator ?? null, reason: scrubText(o.reason), outcome: r.outcome },
    msg,
  );
}

/**
 * Puts a dead event back in the dispatcher's queue: attempts, backoff and
 * error cleared. NOT_FOUND for an unknown id; INVALID_STATE (details.status
 * `pending` or `published`) for one that is not dead, which is left as it is.
 */
export async function requeueDeadOutboxEvent(db: Db, o: { id: bigint; reason: string; operator?: string; logger: Logger }): Promise<DeadOutboxResult> {
  const [row] = await db.$queryRaw<DeadRow[]>`
    UPDATE outbox_events e SET dead_at = NULL, next_attempt_at = NULL, attempts = 0, last_error = NULL
      FROM (SELECT id, attempts, last_error, dead_at FROM outbox_events WHERE id = ${o.id} AND dead_at IS NOT NULL FOR UPDATE) old
     WHERE e.id = old.id AND e.dead_at IS NOT NULL
    RETURNING e.id, e.event_type, e.aggregate_id, old.attempts, old.last_error, old.dead_at`;
  if (!row) throw await refusal(db, o.id, 'requeued');
  const result = resultOf(row, 'requeued');
  audit(o.logger, result, o, 'dead outbox event requeued by hand');
  return result;
}

/**
 * Deletes a dead event: its job will never run (a flows.trigger.v1's runs
 * never start; see the runbook for what else repairs each type). NOT_FOUND
 * for an unknown id (or one already deleted); INVALID_STATE for one that is
 * not dead, which is kept.
 */
export async function deleteDeadOutboxEvent(db: Db, o: { id: bigint; reason: string; operator?: string; logger: Logger }): Promise<DeadOutboxResult> {
  const [row] = await db.$queryRaw<DeadRow[]>`
    DELETE FROM outbox_events WHERE id = ${o.id} AND dead_at IS NOT NULL
    RETURNING id, event_type, aggregate_id, attempts, last_error, dead_at`;
  if (!row) throw await refusal(db, o.id, 'deleted');
  const result = resultOf(row, 'deleted');
  audit(o.logger, result, o, 'dead outbox event deleted by hand');
  return result;
}
