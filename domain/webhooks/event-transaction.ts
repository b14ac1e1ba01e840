import type { Tx } from '../../lib/db';
import { markEventOutcome } from './mark-event';
import type { HandlerContext, HandlerOutcome } from './types';

export interface EffectResult {
  outcome: HandlerOutcome;
  /** The shop the event turned out to concern, recorded on the row. */
  shopId?: string | null;
}

/** Runs a handler's effect and marks its event in ONE transaction. */
export async function inEventTransaction(ctx: HandlerContext, effect: (tx: Tx) => Promise<EffectResult>): Promise<HandlerOutcome> {
  return ctx.deps.db.$transaction(async (tx) => {
    const result = await effect(tx);
    await markEventOutcome(tx, ctx.event.id, result.outcome, result.shopId ?? null);
    return result.outcome;
  });
}
