import type { Tx } from '../../lib/db';
import { OPEN_FLOW_MESSAGE, closeOpenFlowMessage } from './open-flow-message';

/**
 * The erased contacts' flow messages still open (`sending`: written with
 * their rendered text, names included, before the provider call) made final
 * without their text, in the erasure's transaction: the erasure ended their
 * runs (contacts_end_flow_runs), so none is sent now. `skipped`/`not_sendable`
 * when no attempt holds it (its claim released: certainly not sent),
 * `unknown`/`erased` when one may have called the provider (never re-sent;
 * a delivery report for it still settles it). customers/redact and
 * DELETE /api/contacts/:id both call it.
 */
export async function closeErasedFlowMessages(tx: Tx, shopId: string, contactIds: string[]): Promise<number> {
  if (contactIds.length === 0) return 0;
  return tx.$executeRaw`
    UPDATE flow_messages m
       SET ${closeOpenFlowMessage({ heldCode: 'erased', released: { status: 'skipped', skipReason: 'not_sendable' } })}
     WHERE m.shop_id = ${shopId}::uuid AND m.contact_id = ANY(${contactIds}::uuid[]) AND ${OPEN_FLOW_MESSAGE}`;
}
