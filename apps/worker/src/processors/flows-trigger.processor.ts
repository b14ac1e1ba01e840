import { consumeFlowTrigger } from '../../../../domain/flows/consume-flow-trigger';
import { runFlowTrigger } from '../../../../domain/flows/run-flow-trigger';
import { defineHandler } from './types';

/** Starts the runs one trigger occurrence calls for; a retry or duplicate job starts none twice (unique keys). */
export const flowsTriggerHandler = defineHandler('flows.trigger.v1', async (payload, { deps }) => {
  const { traceId, outbox, ...event } = payload;
  const outcome = await runFlowTrigger(deps.db, event, { traceId, now: deps.now() });
  if (outcome.started.length > 0) {
    deps.metrics.flowRunsStarted.inc({ trigger: event.kind }, outcome.started.length);
    deps.logger.info({ shopId: event.shopId, trigger: event.kind, started: outcome.started.length, candidates: outcome.candidates }, 'flow runs started');
  }
  // Only once the runs are in: a job lost before this line is republished by reconciliation.
  if (outbox) await consumeFlowTrigger(deps.db, { outboxId: outbox.id, part: outbox.part, parts: outbox.parts, now: deps.now() });
  return { flows: outcome.flows, candidates: outcome.candidates, started: outcome.started.length };
});
