import { executeFlowStep } from '../../../../domain/flows/execute-flow-step';
import { defineHandler } from './types';

/** Executes the current step of each run of one claim; a retried job redoes nothing already settled (claim + step guard). */
export const flowsStepsHandler = defineHandler('flows.steps.v1', async (payload, { deps }) => {
  const counts: Record<string, number> = {};
  for (const runId of payload.runIds) {
    const outcome = await executeFlowStep(deps.db, { runId, claimToken: payload.claimToken, now: deps.now() });
    counts[outcome.kind] = (counts[outcome.kind] ?? 0) + 1;
    deps.metrics.flowSteps.inc({ outcome: outcome.kind });
  }
  return counts;
});
