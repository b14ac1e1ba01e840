import type { Logger } from 'pino';
import type { Config } from '../../lib/config';
import type { Db, Tx } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';
import type { Producer } from '../../queue/producer';

/** Who sent an event; the first half of the dedup key (provider, event_id). */
export type WebhookProvider = 'stripe' | 'shopify' | 'sms-simulator' | 'sms-mitto';

/** The SMS providers whose `status` events are delivery reports (applied in bulk, not one by one). */
export const DELIVERY_REPORT_PROVIDERS: WebhookProvider[] = ['sms-simulator', 'sms-mitto'];

/** What a handler made of an event; both end its processing for good. */
export type HandlerOutcome = 'processed' | 'ignored';

/** Final states of a row (webhook_events.status) other than `received`. */
export type FinalStatus = HandlerOutcome | 'failed' | 'dropped';

export interface WebhookEventRow {
  id: string;
  provider: string;
  event_id: string;
  topic: string;
  shop_id: string | null;
  payload: unknown;
  status: string;
  attempts: number;
  trace_id: string | null;
  received_at: Date;
}

/** What processing needs; WorkerDeps and ApiDeps both satisfy it. */
export interface WebhookProcessDeps {
  db: Db;
  metrics: Metrics;
  logger: Logger;
  config: Config;
  now: () => Date;
  /** Publishes a handler's outbox rows right after its commit; without it the outbox dispatcher does (within seconds). */
  producer?: Producer;
}

export interface HandlerContext {
  deps: WebhookProcessDeps;
  event: WebhookEventRow;
  /** Runs once the handler's transaction has committed (metrics, warnings). */
  afterCommit(fn: () => void): void;
}

/**
 * A handler applies its effect AND marks the event (markEventOutcome) in the
 * same transaction, so an effect is never committed without its mark or the
 * other way round. Handlers are idempotent on business state, not on the
 * event's status: a replayed event re-runs them and changes nothing twice.
 */
export type WebhookHandler = (ctx: HandlerContext) => Promise<HandlerOutcome>;

/**
 * The same effect for many events of one topic at once (a drain's pass), for
 * topics whose effect is one set-based statement: it applies the effect and
 * marks every event it takes in one statement or transaction, and returns
 * the events it took with their outcomes (the same outcomes the per-event
 * handler gives) and those it did not (a payload it cannot read), which go
 * the per-event way. If it throws, nothing of it committed and every event
 * goes the per-event way.
 */
export type BulkWebhookHandler = (
  deps: WebhookProcessDeps,
  events: WebhookEventRow[],
) => Promise<{ done: { event: WebhookEventRow; outcome: HandlerOutcome }[]; rest: WebhookEventRow[] }>;

export type { Tx };
