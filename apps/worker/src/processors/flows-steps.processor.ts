import { executeFlowSteps } from '../../../../domain/flows/execute-flow-steps';
import { trackedLinksOf } from '../../../../domain/links/link-code';
import type { FlowSendDeps } from '../../../../domain/flows/send-flow-message';
import { limitedProvider } from '../limited-provider';
import { defineHandler } from './types';

/**
 * Executes the current step of each run of one claim, the send steps
 * together (execute-flow-steps.ts); a retried job redoes nothing already
 * settled (claim + step guard).
 */
export const flowsStepsHandler = defineHandler('flows.steps.v1', async (payload, { deps }) => {
  // Send steps go through the same provider and segments-per-second budget as campaign sends.
  const provider = limitedProvider(deps);
  const send: FlowSendDeps | undefined = provider && {
    provider,
    phoneHashKey: deps.config.PHONE_HASH_KEY,
    leaseMs: deps.config.SEND_LEASE_MS,
    quietHoursFloor: deps.config.SMS_QUIET_HOURS_FLOOR,
    metrics: deps.metrics,
    logger: deps.logger,
    links: trackedLinksOf(deps.config),
  };
  const counts: Record<string, number> = {};
  const outcomes = await executeFlowSteps(deps.db, { runIds: payload.runIds, claimToken: payload.claimToken, now: deps.now, send });
  for (const outcome of outcomes.values()) {
    counts[outcome.kind] = (counts[outcome.kind] ?? 0) + 1;
    deps.metrics.flowSteps.inc({ outcome: outcome.kind });
  }
  return counts;
});
