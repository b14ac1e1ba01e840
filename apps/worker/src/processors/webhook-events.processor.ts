import { runWithContext } from '../../../../lib/context';
import { claimEventsForDrain, type ClaimedEvent } from '../../../../domain/webhooks/claim-events-for-drain';
import { enqueueWebhookJob } from '../../../../domain/webhooks/enqueue-event-job';
import { processStoredEvent } from '../../../../domain/webhooks/process-event';
import { processEventsInBulk } from '../../../../domain/webhooks/process-events-in-bulk';
import { defineHandler } from './types';

/** Events per claim (read by the claim). */
const PASS = 100;
/** Events processed at once within a pass: enough to hide round trips, few enough to leave connections to others. */
const PARALLEL = 4;
/** A claimed row left this long (its drain died) is claimed again. */
const LEASE_MS = 60_000;

/**
 * Drains stored events in passes until a pass finds fewer than a full one.
 * A pass's events of a topic with a bulk form are applied together, one
 * statement per topic (processEventsInBulk); every other event is processed
 * exactly as its own `webhook.process.v1` job would (same handler, same
 * transaction with its effect, under its own trace id); one that fails is
 * recorded on its row and handed to a job of its own, which retries with
 * backoff and closes it as failed or dropped in the end.
 */
export const webhookEventsHandler = defineHandler('webhook.events.v1', async (_payload, { deps }) => {
  let processed = 0;
  let handedOff = 0;
  const one = async (e: ClaimedEvent): Promise<void> => {
    const trace = e.trace_id ?? `webhook-${e.id}`;
    try {
      await runWithContext({ traceId: trace, requestId: trace }, () => processStoredEvent(deps, e, { final: false }));
      processed++;
    } catch {
      await enqueueWebhookJob(deps.producer, e.id, e.trace_id);
      handedOff++;
    }
  };
  for (;;) {
    const claimed = await claimEventsForDrain(deps.db, { limit: PASS, leaseMs: LEASE_MS });
    const { processed: inBulk, rest } = await processEventsInBulk(deps, claimed);
    processed += inBulk;
    for (let i = 0; i < rest.length; i += PARALLEL) await Promise.all(rest.slice(i, i + PARALLEL).map(one));
    if (claimed.length < PASS) return { processed, handedOff };
  }
});
