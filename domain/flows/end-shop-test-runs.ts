import type { DbOrTx } from '../../lib/db';
import { OPEN_FLOW_MESSAGE, closeOpenFlowMessage } from './open-flow-message';

/**
 * Ends a shop's test runs in progress (`exited`/`shop_uninstalled`), at
 * app/uninstalled. A test run goes on whatever its flow's status (a merchant
 * tries a draft), so one the uninstall merely held went on texting its contact
 * the moment the shop was re-installed, while every flow stayed paused until
 * the merchant activated it: nothing of the old install may send again. Claim
 * cleared, so a step job still holding one moves nothing; a message a batched
 * attempt may have sent (a send mark), or one written `sending` under a claim,
 * is recorded `unknown` (`run_ended`), one released `skipped`, as when a STOP
 * ends a run (contacts_end_flow_runs). Test runs are
 * bounded per flow, so this is one short statement on their partial index.
 */
export async function endShopTestRuns(db: DbOrTx, shopId: string): Promise<number> {
  const [row] = await db.$queryRaw<{ n: number }[]>`
    WITH ended AS (
      UPDATE flow_runs r
         SET status = 'exited', exit_reason = 'shop_uninstalled', next_due_at = NULL, ended_at = now(),
             claim_token = NULL, lease_until = NULL, updated_at = now()
       WHERE r.shop_id = ${shopId}::uuid AND r.trigger_type = 'manual' AND r.status = 'active'
      RETURNING r.id, r.current_step, r.shop_id, r.flow_id, r.version_id, r.contact_id, r.trace_id, r.sending_message_id, r.sending_segments
    ), open_rows AS (
      -- A message written before its provider call ends with its run, as a STOP's does (contacts_end_flow_runs):
      -- its report then settles it, instead of being dropped while it waited for the orphan pass.
      UPDATE flow_messages m
         SET ${closeOpenFlowMessage({ heldCode: 'run_ended', released: { status: 'skipped', skipReason: 'not_sendable' } })}
        FROM ended e
       WHERE m.run_id = e.id AND m.step = e.current_step AND ${OPEN_FLOW_MESSAGE}
    ), recorded AS (
      INSERT INTO flow_messages (id, run_id, step, shop_id, flow_id, version_id, contact_id, status, error_code, segments, final_at, attempts, trace_id)
      SELECT sending_message_id, id, current_step, shop_id, flow_id, version_id, contact_id, 'unknown', 'run_ended', sending_segments, now(), 1, trace_id
        FROM ended
       WHERE sending_message_id IS NOT NULL
      ON CONFLICT DO NOTHING
    )
    SELECT count(*)::int AS n FROM ended`;
  return row?.n ?? 0;
}
