import { claimDueRuns, MAX_CLAIM, type DueCursor } from '../../../../domain/flows/claim-due-runs';
import { holdStoppedRuns } from '../../../../domain/flows/hold-stopped-runs';
import { releaseHeldRuns } from '../../../../domain/flows/release-held-runs';
import { jobIds } from '../../../../queue/job-ids';
import { defineHandler } from './types';

// Bounded per tick: up to 20 claims of ≤ 1 000 runs (a step job sends a
// claim's messages together, ~10 000/s on 2 cores: docs/performance.md
// "Flows"); a backlog drains over the next ticks. The next tick waits behind
// the step jobs this one queued (same queue, FIFO), so claims run ahead of
// the steps by about one tick, well inside the claims' lease.
const CLAIMS_PER_TICK = 20;
const STEP_LEASE_MS = 60_000;

// Where this process's sweep of the due index for runs to hold goes on at the
// next tick (hold-stopped-runs.ts). Per process and lost on a restart, which
// only starts the sweep over: holding is idempotent.
let holdAfter: DueCursor | null = null;

/** Claims due flow runs and hands each claim to one step job (docs/flows.md "Execution"). */
export const flowsDueHandler = defineHandler('flows.due.v1', async (payload, { deps }) => {
  // Before the claims, an activated flow's held runs go back into the due
  // index (bounded chunks), so this tick's claims take them.
  const released = await releaseHeldRuns(deps.db);
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
  // After them (its work does not delay the step jobs), the due runs of flows
  // that are not live leave the due index, so later claims no longer step over them.
  const hold = await holdStoppedRuns(deps.db, { now: deps.now(), after: holdAfter });
  holdAfter = hold.next;
  return { claimed, released, held: hold.held };
});
