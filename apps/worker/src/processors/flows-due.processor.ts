import { claimDueRuns, MAX_CLAIM } from '../../../../domain/flows/claim-due-runs';
import { jobIds } from '../../../../queue/job-ids';
import { defineHandler } from './types';

// Bounded per tick: a few claims of ≤ 1 000 runs; a backlog drains over the next ticks.
const CLAIMS_PER_TICK = 5;
const STEP_LEASE_MS = 60_000;

/** Claims due flow runs and hands each claim to one step job (docs/flows.md "Execution"). */
export const flowsDueHandler = defineHandler('flows.due.v1', async (payload, { deps }) => {
  let claimed = 0;
  for (let i = 0; i < CLAIMS_PER_TICK; i++) {
    const claim = await claimDueRuns(deps.db, { now: deps.now(), limit: MAX_CLAIM, leaseMs: STEP_LEASE_MS });
    if (claim.runIds.length === 0) break;
    if (claim.lagSeconds !== null) deps.metrics.flowDueLag.observe(claim.lagSeconds);
    // If this add is lost, the lease ends and the runs are claimed again under a new token.
    await deps.producer.add('flows.steps.v1', { traceId: payload.traceId, claimToken: claim.claimToken, runIds: claim.runIds }, { jobId: jobIds.flowSteps(claim.claimToken) });
    claimed += claim.runIds.length;
    if (claim.runIds.length < MAX_CLAIM) break;
  }
  return { claimed };
});
