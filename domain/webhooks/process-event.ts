import { WebhookEventClosedError, WebhookNotReadyError } from './errors';
import { resolveWebhookHandler } from './handlers';
import { describeError, markEventOutcome, recordEventFailure } from './mark-event';
import type { FinalStatus, WebhookEventRow, WebhookProcessDeps } from './types';

export interface ProcessAttempt {
  /** True on the job's last attempt: a failure now closes the event. */
  final: boolean;
}

export type ProcessResult = FinalStatus | 'missing';

const FINAL_STATUSES: readonly FinalStatus[] = ['processed', 'ignored', 'failed', 'dropped'];

/**
 * Processes one stored event by provider + topic. Runs whatever the row's
 * status: handlers are idempotent on business state, so a replay repairs a
 * missing effect instead of trusting the flag. A failure is recorded on the
 * row (attempts, last_error) and rethrown so the job retries with backoff;
 * on the final attempt the row becomes `failed`, or `dropped` when the event
 * was merely not applicable yet.
 */
export async function processWebhookEvent(deps: WebhookProcessDeps, eventRowId: string, attempt: ProcessAttempt): Promise<ProcessResult> {
  const [event] = await deps.db.$queryRaw<WebhookEventRow[]>`
    SELECT id, provider, event_id, topic, shop_id, payload, status, attempts, trace_id, received_at
      FROM webhook_events WHERE id = ${eventRowId}::uuid`;
  // Erased since it was queued (shop/redact deletes the shop's events).
  if (!event) return 'missing';
  return processStoredEvent(deps, event, attempt);
}

/** processWebhookEvent for a row the caller has already read (a drain's claim returns them). */
export async function processStoredEvent(deps: WebhookProcessDeps, event: WebhookEventRow, attempt: ProcessAttempt): Promise<ProcessResult> {
  const source = event.provider;
  const handler = resolveWebhookHandler(event.provider, event.topic);
  // No handler, or a body customers/redact erased (privacy/scrub-person-traces.ts): nothing to act on, and acting on
  // it would bring the customer back. A replay of such an event ends here, instead of failing on a body no schema
  // accepts through every retry to `failed`.
  if (!handler || isErasedPayload(event.payload)) {
    await markEventOutcome(deps.db, event.id, 'ignored');
    deps.metrics.webhookEvents.inc({ source, outcome: 'ignored' });
    return 'ignored';
  }

  const afterCommit: (() => void)[] = [];
  try {
    const outcome = await handler({ deps, event, afterCommit: (fn) => afterCommit.push(fn) });
    for (const fn of afterCommit) {
      try {
        fn();
      } catch (err) {
        deps.logger.warn({ err: { message: describeError(err) }, webhookEventId: event.id }, 'webhook after-commit hook failed');
      }
    }
    deps.metrics.webhookEvents.inc({ source, outcome });
    return outcome;
  } catch (err) {
    // Another run closed it first and this one's effect was rolled back: nothing to count, record or retry.
    if (err instanceof WebhookEventClosedError) return FINAL_STATUSES.includes(err.status as FinalStatus) ? (err.status as FinalStatus) : 'missing';
    const notReady = err instanceof WebhookNotReadyError;
    const finalStatus = attempt.final ? (notReady ? 'dropped' : 'failed') : null;
    const error = describeError(err);
    try {
      await recordEventFailure(deps.db, event.id, error, finalStatus);
    } catch {
      // The database is what failed; the job's retry (or reconciliation) comes back.
      throw err;
    }
    const log = { webhookEventId: event.id, provider: event.provider, topic: event.topic, error, final: finalStatus };
    if (finalStatus) {
      deps.metrics.webhookEvents.inc({ source, outcome: finalStatus });
      deps.logger.warn(log, finalStatus === 'dropped' ? 'webhook event dropped: still not applicable after the last attempt' : 'webhook event failed after the last attempt');
    } else {
      deps.logger.info(log, 'webhook event attempt failed; will retry');
    }
    if (finalStatus === 'dropped') return 'dropped';
    throw err;
  }
}

/** The payload customers/redact leaves in place of a body naming the customer. */
function isErasedPayload(payload: unknown): boolean {
  return typeof payload === 'object' && payload !== null && !Array.isArray(payload) && Object.keys(payload).length === 1 && (payload as { redacted?: unknown }).redacted === true;
}
