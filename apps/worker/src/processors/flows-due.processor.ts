import { claimDueRuns, MAX_CLAIM, type DueCursor } from '../../../../domain/flows/claim-due-runs';
import { jobIds } from '../../../../queue/job-ids';
import { defineHandler } from './types';

// Bounded per tick: up to 20 claims of ≤ 1 000 runs (a step job sends a
// claim's messages together, ~10 000/s on 2 cores: docs/performance.md
// "Flows"); a backlog drains over the next ticks. The next tick waits behind
// the step jobs this one queued (same queue, FIFO), so claims run ahead of
// the steps by about one tick, well inside the claims' lease.
const CLAIMS_PER_TICK = 20;
const STEP_LEASE_MS = 60_000;

/** Claims due flow runs and hands each claim to one step job (docs/flows.md "Execution"). */
export const flowsDueHandler = defineHandler('flows.due.v1', async (payload, { deps }) => {
  let claimed = 0;
  let after: DueCursor | null = null;
  for (let i = 0; i < CLAIMS_PER_TICK; i++) {
    const claim = await claimDueRuns(deps.db, { now: deps.now(), limit: MAX_CLAIM, leaseMs: STEP_LEASE_MS, after });
    if (claim.runIds.length === 0) break;
    after = claim.last;
    if (claim.lagSeconds !== null) deps.metrics.flowDueLag.observe(claim.lagSeconds);
    // If this add is lost, the lease ends and the runs are claimed again under a new token.
    await deps.producer.add('flows.steps.v1', { traceId: payload.traceId, claimToken: claim.claimToken, runIds: claim.runIds }, { jobId: jobIds.flowSteps(claim.claimToken) });
    claimed += claim.runIds.length;
    if (claim.runIds.length < MAX_CLAIM) break;
  }
  return { claimed };
});
