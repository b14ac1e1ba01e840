import type { Db } from '../../lib/db';

/** At most this many held runs given back per call (one a scheduler tick), as many as a tick holds (hold-stopped-runs.ts). */
export const RELEASE_LIMIT = 2_000;

/**
 * Gives the held runs of activated flows (`runs_held`, set by activateFlow)
 * back to the due index, oldest due first, at most `limit` a call, so the
 * claims that follow take them in due order; a flow is cleared once none of
 * its runs is held. A flow paused again meanwhile is left to the hold.
 * Clearing re-checks, in its statement, that the flow is still live and no
 * run of it is held: a hold of its runs needs it not live (hold-stopped-runs.ts
 * reads it under a share lock), and the next activation sets the flag again.
 */
export async function releaseHeldRuns(db: Db, o: { limit?: number } = {}): Promise<number> {
  let budget = o.limit ?? RELEASE_LIMIT;
  const flows = await db.$queryRaw<{ id: string }[]>`
    SELECT id::text FROM flows WHERE runs_held AND status = 'live' ORDER BY id LIMIT 20`;
  let released = 0;
  for (const f of flows) {
    if (budget <= 0) break;
    const n = await db.$executeRaw`
      UPDATE flow_runs r SET held = false
       WHERE r.id = ANY(ARRAY(SELECT id FROM flow_runs
                               WHERE flow_id = ${f.id}::uuid AND status = 'active' AND held
                               ORDER BY next_due_at, id
                               LIMIT ${budget}::int
                                 FOR UPDATE SKIP LOCKED))
         AND r.held`;
    released += n;
    budget -= n;
    if (budget > 0) {
      await db.$executeRaw`
        UPDATE flows f SET runs_held = false
         WHERE f.id = ${f.id}::uuid AND f.runs_held AND f.status = 'live'
           AND NOT EXISTS (SELECT 1 FROM flow_runs r WHERE r.flow_id = f.id AND r.status = 'active' AND r.held)`;
    }
  }
  return released;
}
