import { publishOutboxRows, type OutboxRow } from '../outbox/outbox';
import type { HandlerContext } from './types';

/**
 * Publishes a handler's outbox row right after its transaction commits, so
 * its job starts now; a failure only delays it: the outbox dispatcher
 * publishes every pending row within seconds. `what` names the row in the log.
 */
export function publishAfterCommit(ctx: HandlerContext, row: OutboxRow | null, what: string): void {
  const producer = ctx.deps.producer;
  if (!row || !producer) return;
  ctx.afterCommit(() => {
    publishOutboxRows(ctx.deps.db, producer, [row], ctx.deps.now()).catch((err: unknown) =>
      ctx.deps.logger.warn({ err: { message: (err as Error).message }, outboxId: String(row.id) }, `${what} not published now; the outbox dispatcher will`),
    );
  });
}
