import type { DbOrTx } from '../../lib/db';
import { OPEN_FLOW_MESSAGE, closeOpenFlowMessage } from './open-flow-message';

/** Where a settle moves a run: ended, or on to a step due at a time (the same step, for a deferral). */
export type RunMove = { status: 'exited' | 'completed'; reason?: string } | { step: number; dueAt: Date };

/**
 * Moves a claimed run and clears its claim, only if this claim still holds
 * it at the step it read (`WHERE id AND claim_token AND current_step AND
 * active`): a stale or repeated job, or one whose run was re-claimed, moves
 * nothing. True when it moved.
 *
 * A send mark still on the run (a batched attempt reserved a message id for
 * this step and died between its provider call and its settle, and the run
 * now exits before its send step looks at the mark) becomes that message's
 * row in the same statement: `unknown`, never re-sent, not charged unless a
 * delivery report for `f<id>` proves it (as a row left `sending` by a dead
 * attempt). Where the row exists already (the send step wrote it), nothing.
 *
 * Likewise a run that ends with a row of its step still `sending` under
 * another claim, or released (an attempt died after writing it, and the run
 * now exits before its send step looks at it: an order, a cancellation):
 * the row becomes `unknown` (`lease_expired`; it may have gone) or `failed`
 * (`run_ended`; released, certainly not sent) in the same statement, so the
 * report of a message that went out settles and charges it instead of
 * waiting for the orphan pass (5 minutes, after its report's retries gave up).
 * A row of this claim is the caller's to settle (the send step's outcome).
 */
export async function settleRun(db: DbOrTx, run: { runId: string; claimToken: string; step: number; now: Date }, set: RunMove): Promise<boolean> {
  const ended = 'status' in set;
  const [row] = await db.$queryRaw<{ moved: number }[]>`
    WITH prev AS MATERIALIZED (
      SELECT id, shop_id, flow_id, version_id, contact_id, trace_id, sending_message_id AS mark, sending_segments AS segments
        FROM flow_runs
       WHERE id = ${run.runId}::bigint AND claim_token = ${run.claimToken}::uuid AND current_step = ${run.step} AND status = 'active'
         FOR UPDATE
    ), moved AS (
      UPDATE flow_runs r
         SET status = ${ended ? set.status : 'active'}, exit_reason = ${ended ? (set.reason ?? null) : null},
             current_step = ${ended ? run.step : set.step}, next_due_at = ${ended ? null : set.dueAt}::timestamptz,
             ended_at = ${ended ? run.now : null}::timestamptz, claim_token = NULL, lease_until = NULL, updated_at = now(),
             sending_message_id = NULL, sending_segments = NULL
        FROM prev
       WHERE r.id = prev.id
      RETURNING r.id
    ), open_row AS (
      UPDATE flow_messages m
         SET ${closeOpenFlowMessage({ heldCode: 'lease_expired', released: { status: 'failed', errorCode: 'run_ended' }, at: run.now })}
        FROM prev p JOIN moved mv ON mv.id = p.id
       WHERE ${ended}::boolean AND m.run_id = p.id AND m.step = ${run.step}
         AND ${OPEN_FLOW_MESSAGE} AND m.claim_token IS DISTINCT FROM ${run.claimToken}::uuid
    ), orphan AS (
      INSERT INTO flow_messages (id, run_id, step, shop_id, flow_id, version_id, contact_id, status, error_code, segments, final_at, attempts, trace_id)
      SELECT p.mark, p.id, ${run.step}, p.shop_id, p.flow_id, p.version_id, p.contact_id, 'unknown', 'lease_expired', p.segments, ${run.now}::timestamptz, 1, p.trace_id
        FROM prev p JOIN moved m ON m.id = p.id
       WHERE p.mark IS NOT NULL
      ON CONFLICT DO NOTHING
      RETURNING id
    )
    SELECT (SELECT count(*) FROM moved)::int AS moved`;
  return row?.moved === 1;
}
