import type { Tx } from '../../lib/db';
import { WebhookEventClosedError } from './errors';
import { markEventOutcome } from './mark-event';
import type { HandlerContext, HandlerOutcome } from './types';

export interface EffectResult {
  outcome: HandlerOutcome;
  /** The shop the event turned out to concern, recorded on the row. */
  shopId?: string | null;
}

/**
 * Runs a handler's effect and marks its event in ONE transaction. The mark
 * closes only a row still `received`: two runs of one event at once (the
 * route's inline run and a drain that claimed the row meanwhile) both apply
 * their effect, the second waits on the first's mark, finds the row closed
 * and rolls its effect back (WebhookEventClosedError), so the effect lands once.
 */
export async function inEventTransaction(ctx: HandlerContext, effect: (tx: Tx) => Promise<EffectResult>): Promise<HandlerOutcome> {
  return ctx.deps.db.$transaction(async (tx) => {
    const result = await effect(tx);
    const marked = await markEventOutcome(tx, ctx.event.id, result.outcome, result.shopId ?? null, { onlyOpen: true });
    if (marked === 0) {
      // Read in a statement of its own, so it sees what the run that closed it
      // committed. No row: the effect deleted it (shop/redact deletes its own
      // event) or an erasure did; either way there is nothing to close.
      const [row] = await tx.$queryRaw<{ status: string }[]>`SELECT status FROM webhook_events WHERE id = ${ctx.event.id}::uuid`;
      if (row) throw new WebhookEventClosedError(row.status);
    }
    return result.outcome;
  });
}
