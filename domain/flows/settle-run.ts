import type { DbOrTx } from '../../lib/db';

/** Where a settle moves a run: ended, or on to a step due at a time (the same step, for a deferral). */
export type RunMove = { status: 'exited' | 'completed'; reason?: string } | { step: number; dueAt: Date };

/**
 * Moves a claimed run and clears its claim, only if this claim still holds
 * it at the step it read (`WHERE id AND claim_token AND current_step AND
 * active`): a stale or repeated job, or one whose run was re-claimed, moves
 * nothing. True when it moved.
 */
export async function settleRun(db: DbOrTx, run: { runId: string; claimToken: string; step: number; now: Date }, set: RunMove): Promise<boolean> {
  const n =
    'status' in set
      ? await db.$executeRaw`
          UPDATE flow_runs SET status = ${set.status}, exit_reason = ${set.reason ?? null}, next_due_at = NULL, ended_at = ${run.now}::timestamptz,
                 claim_token = NULL, lease_until = NULL, updated_at = now()
           WHERE id = ${run.runId}::bigint AND claim_token = ${run.claimToken}::uuid AND current_step = ${run.step} AND status = 'active'`
      : await db.$executeRaw`
          UPDATE flow_runs SET current_step = ${set.step}, next_due_at = ${set.dueAt}::timestamptz, claim_token = NULL, lease_until = NULL, updated_at = now()
           WHERE id = ${run.runId}::bigint AND claim_token = ${run.claimToken}::uuid AND current_step = ${run.step} AND status = 'active'`;
  return n === 1;
}
