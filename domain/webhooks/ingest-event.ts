import type { Logger } from 'pino';
import { currentTraceId } from '../../lib/context';
import type { Db } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';
import type { Producer } from '../../queue/producer';
import { enqueueWebhookJob } from './enqueue-event-job';
import { enqueueEventsDrainJob } from './enqueue-events-drain-job';
import { describeError } from './mark-event';
import { processWebhookEvent } from './process-event';
import { recordWebhookEvent, type IncomingWebhookEvent } from './record-event';
import type { WebhookProcessDeps } from './types';

export interface IngestDeps {
  db: Db;
  producer: Producer;
  metrics: Metrics;
  logger: Logger;
}

export interface IngestResult {
  duplicate: boolean;
  eventRowId: string | null;
}

/**
 * The receiving half of every webhook, after its signature was verified:
 * one INSERT decides new vs duplicate; a new event is processed by the
 * drain job of its time slot (enqueueEventsDrainJob).
 * With `inline`, the event is processed right here first (the job is only
 * the fallback when that fails). If Redis is down the row is stored anyway
 * and the sender still gets its 200: reconciliation re-enqueues `received`
 * rows (requeueStuckWebhookEvents), while a 5xx would only make the sender
 * retry into a duplicate.
 */
export async function ingestWebhookEvent(
  deps: IngestDeps,
  e: IncomingWebhookEvent,
  opts: {
    inline?: WebhookProcessDeps;
    /**
     * How the new row gets processed, instead of its own `webhook.process.v1`
     * job: delivery reports share a bulk job (enqueueDeliveryReportsJob).
     * Not awaited: the sender hears back once the row is committed, without
     * the Redis round trip of the slot's job (see below for a failed add).
     */
    enqueue?: (eventRowId: string, traceId: string | undefined) => Promise<void>;
  } = {},
): Promise<IngestResult> {
  const traceId = e.traceId ?? currentTraceId();
  const eventRowId = await recordWebhookEvent(deps.db, { ...e, traceId });
  const source = e.provider;
  if (!eventRowId) {
    deps.metrics.webhookEvents.inc({ source, outcome: 'duplicate' });
    return { duplicate: true, eventRowId: null };
  }
  deps.metrics.webhookEvents.inc({ source, outcome: 'received' });

  if (opts.inline) {
    try {
      await processWebhookEvent(opts.inline, eventRowId, { final: false });
      return { duplicate: false, eventRowId };
    } catch {
      // Recorded on the row by processWebhookEvent; the job takes it from here.
    }
  }
  const notEnqueued = (err: unknown): void =>
    deps.logger.warn(
      { webhookEventId: eventRowId, provider: e.provider, err: { message: describeError(err) } },
      'webhook stored but its job could not be enqueued; reconciliation will requeue it',
    );
  if (opts.enqueue) {
    opts.enqueue(eventRowId, traceId).catch(notEnqueued);
    return { duplicate: false, eventRowId };
  }
  try {
    // Inline processing failed and recorded it on the row: retries with backoff on a job of its own.
    if (opts.inline) await enqueueWebhookJob(deps.producer, eventRowId, traceId);
    else await enqueueEventsDrainJob(deps.producer);
  } catch (err) {
    notEnqueued(err);
  }
  return { duplicate: false, eventRowId };
}
