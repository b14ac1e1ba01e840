import type { Db } from '../../lib/db';
import { AppError } from '../../lib/errors';
import type { IdempotencyGuard } from '../idempotency/guard';
import { defaultExitCondition, MAX_FLOWS_PER_SHOP, type CreateFlowInput } from './flow-input';
import { FLOW_COLUMNS, toFlowView, triggerConfigOf, type FlowRow, type FlowView } from './flow-view';
import { writeFlowVersion } from './write-flow-version';

/**
 * A new flow, always a `draft`, with its version 1. The shop's flows are
 * counted under a per-shop transaction lock, so two concurrent creates cannot
 * both slip past the bound; a deleted one no longer counts ("delete one
 * first" frees its place at once, whatever its job has left to remove).
 */
export async function createFlow(db: Db, c: { shopId: string; input: CreateFlowInput; guard: IdempotencyGuard; now: Date }): Promise<FlowView> {
  return db.$transaction(async (tx) => {
    await c.guard.assertHeld(tx);
    await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`flows:${c.shopId}`}, 0))`;
    const [count] = await tx.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM flows WHERE shop_id = ${c.shopId}::uuid AND status <> 'deleted'`;
    if ((count?.n ?? 0) >= MAX_FLOWS_PER_SHOP) {
      throw new AppError('LIMIT_REACHED', `A shop has at most ${MAX_FLOWS_PER_SHOP} flows; delete one first`, { details: { limit: MAX_FLOWS_PER_SHOP, resource: 'flows' } });
    }
    const [row] = await tx.$queryRaw<FlowRow[]>`
      INSERT INTO flows (shop_id, name, trigger_type, trigger_config, created_at, updated_at)
      VALUES (${c.shopId}::uuid, ${c.input.name}, ${c.input.trigger.type}, ${JSON.stringify(triggerConfigOf(c.input.trigger))}::jsonb, ${c.now}, ${c.now})
      RETURNING ${FLOW_COLUMNS}`;
    const flow = row as FlowRow;
    const version = await writeFlowVersion(tx, {
      flowId: flow.id,
      shopId: c.shopId,
      status: 'draft',
      content: { steps: c.input.steps, exitCondition: c.input.exitCondition ?? defaultExitCondition(c.input.trigger.type), smartSending: c.input.smartSending },
      now: c.now,
    });
    return toFlowView({ ...flow, current_version_id: version.id }, version);
  });
}
