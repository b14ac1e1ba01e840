import type { Logger } from 'pino';
import { ZodError } from 'zod';
import type { Db, Tx } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';
import { jobIds } from '../../queue/job-ids';
import type { JobPayload } from '../../queue/payloads';
import type { Producer } from '../../queue/producer';
import { describeError } from '../webhooks/mark-event';

// The transactional outbox: a business transaction writes its event row; after
// commit the caller publishes it, and the dispatcher job republishes anything
// a crash left unpublished. Publishing is idempotent (deterministic job ids).
// The dispatcher publishes each row on its own: a failure is recorded on the
// row and retried with backoff, and a payload its job schema keeps refusing
// is set aside as dead (dispatchOutbox), so no row holds up the others.

export type OutboxEventType =
  | 'campaign.launch.v1'
  | 'campaign.completed.v1'
  | 'contacts.import.v1'
  | 'contact.consent-writeback.v1'
  | 'shop.sync.v1'
  | 'keyword.reply.v1'
  | 'flows.trigger.v1'
  | 'privacy.shop-erase.v1'
  | 'flows.delete.v1';

export interface OutboxRow {
  id: bigint;
  event_type: string;
  aggregate_id: string;
  payload: unknown;
  trace_id: string | null;
  available_at: Date;
}

export async function writeOutboxEvent(
  tx: Tx,
  e: { type: OutboxEventType; aggregateId: string; payload: Record<string, unknown>; traceId?: string; availableAt?: Date },
): Promise<OutboxRow> {
  const [row] = await tx.$queryRaw<OutboxRow[]>`
    INSERT INTO outbox_events (event_type, aggregate_id, payload, trace_id, available_at)
    VALUES (${e.type}, ${e.aggregateId}, ${JSON.stringify(e.payload)}::jsonb, ${e.traceId ?? null}, ${e.availableAt ?? new Date()})
    RETURNING id, event_type, aggregate_id, payload, trace_id, available_at`;
  return row as OutboxRow;
}

/**
 * How each event type is published. An event type with no route stays
 * unpublished (visible in outbox_pending) rather than being marked done and
 * lost; `null` marks a notification-only event that has no consumer yet.
 */
type OutboxRoute = ((producer: Producer, row: OutboxRow, now: Date) => Promise<void>) | null;

export const OUTBOX_ROUTES: Partial<Record<OutboxEventType, OutboxRoute>> = {
  'campaign.completed.v1': null,
  'campaign.launch.v1': (producer, row, now) => {
    const { campaignId, shopId } = row.payload as { campaignId: string; shopId: string };
    // A scheduled campaign's event is published at once as a delayed job.
    const delay = Math.max(0, new Date(row.available_at).getTime() - now.getTime());
    // Rescheduled earlier: the delayed job of the old time is brought forward (a later time needs nothing: the launch waits for scheduled_at).
    return producer.add('campaign.launch.v1', { traceId: traceOf(row), campaignId, shopId }, { jobId: jobIds.launch(campaignId), delay, advanceDelayed: true });
  },
  'contacts.import.v1': (producer, row) => {
    const { importId, shopId } = row.payload as { importId: string; shopId: string };
    return producer.add('contacts.import.v1', { traceId: traceOf(row), importId, shopId }, { jobId: jobIds.contactsImport(importId) });
  },
  // Written by the consent record trigger (migration 20261204080000), in the consent change's statement.
  'contact.consent-writeback.v1': (producer, row) => {
    const job = consentWritebackJob(row.payload as ConsentWritebackEvent, traceOf(row));
    return producer.add('contact.consent-writeback.v1', job.payload, { jobId: job.jobId });
  },
  // A sync queued (install, resync), or its bulk export finished (`wake`: the webhook learnt it first).
  'shop.sync.v1': (producer, row) => {
    const { syncId, shopId, wake } = row.payload as { syncId: string; shopId: string; wake?: string };
    const jobId = wake === 'finished' ? jobIds.shopSyncFinished(syncId) : jobIds.shopSync(syncId);
    return producer.add('shop.sync.v1', { traceId: traceOf(row), syncId, shopId }, { jobId });
  },
  // Written with an inbound STOP/START/HELP text (compliance/record-keyword-reply.ts).
  'keyword.reply.v1': (producer, row) => {
    const { replyId } = row.payload as { replyId: string };
    return producer.add('keyword.reply.v1', { traceId: traceOf(row), replyId }, { jobId: jobIds.keywordReply(replyId) });
  },
  // Written by the consent record trigger (migration 20261205800000, one per statement and shop:
  // split here into jobs of ≤ 1 000 records) or with a checkout/order (domain/flows/queue-flow-trigger.ts).
  'flows.trigger.v1': async (producer, row) => {
    for (const part of flowTriggerParts(row)) await producer.add('flows.trigger.v1', part.payload, { jobId: part.jobId });
  },
  // Written by shop/redact with the shop's erasure request (domain/privacy/request-shop-erasure.ts).
  'privacy.shop-erase.v1': (producer, row) => {
    const { shopId } = row.payload as { shopId: string };
    return producer.add('privacy.shop-erase.v1', { traceId: traceOf(row), shopId }, { jobId: jobIds.shopErase(shopId) });
  },
  // Written by DELETE /api/flows/:id with the flow's mark (domain/flows/delete-flow.ts).
  'flows.delete.v1': (producer, row) => {
    const { flowId } = row.payload as { flowId: string };
    return producer.add('flows.delete.v1', { traceId: traceOf(row), flowId }, { jobId: jobIds.flowDelete(flowId) });
  },
};

export interface ConsentWritebackEvent {
  shopId: string;
  contactId: string;
  recordId: string;
}

/**
 * The job of a contact.consent-writeback.v1 event, keyed by the consent
 * record: published from the outbox, and added again under the same id by
 * reconciliation when a write-back stays pending (requeue-consent-writebacks.ts).
 */
export function consentWritebackJob(e: ConsentWritebackEvent, traceId: string): { jobId: string; payload: JobPayload<'contact.consent-writeback.v1'> } {
  return { jobId: jobIds.consentWriteback(e.recordId), payload: { traceId, shopId: e.shopId, contactId: e.contactId, recordId: e.recordId } };
}

/**
 * The jobs one flows.trigger.v1 event is published as (consent records in
 * parts of ≤ 1 000), each naming its event and part so the job can record
 * that it ran (domain/flows/consume-flow-trigger.ts). Reconciliation
 * republishes the parts of an event never consumed with the same ids.
 */
export function flowTriggerParts(row: Pick<OutboxRow, 'id' | 'payload' | 'trace_id'>): { part: number; jobId: string; payload: JobPayload<'flows.trigger.v1'> }[] {
  const p = row.payload as { kind: string; shopId: string; recordIds?: string[]; token?: string; orderId?: string; live?: Record<string, number> };
  const traceId = traceOf(row);
  const live = p.live === undefined ? {} : { live: p.live };
  const id = String(row.id);
  if (p.kind === 'contact_subscribed') {
    const ids = p.recordIds ?? [];
    const parts = Math.max(1, Math.ceil(ids.length / 1000));
    return Array.from({ length: parts }, (_, part) => ({
      part,
      jobId: jobIds.flowsTrigger(id, part),
      payload: { traceId, outbox: { id, part, parts }, ...live, kind: 'contact_subscribed' as const, shopId: p.shopId, recordIds: ids.slice(part * 1000, (part + 1) * 1000) },
    })).filter((x) => x.payload.recordIds.length > 0);
  }
  const outbox = { id, part: 0, parts: 1 };
  const payload =
    p.kind === 'checkout_abandoned'
      ? { traceId, outbox, ...live, kind: 'checkout_abandoned' as const, shopId: p.shopId, token: String(p.token) }
      : { traceId, outbox, ...live, kind: 'order_created' as const, shopId: p.shopId, orderId: String(p.orderId) };
  return [{ part: 0, jobId: jobIds.flowsTrigger(id), payload }];
}

function traceOf(row: Pick<OutboxRow, 'id' | 'trace_id'>): string {
  return row.trace_id ?? `outbox-${row.id}`;
}
export { traceOf as outboxTraceId };

/**
 * Publishes one row through its event type's route; false for a type with no
 * route (left pending, see OUTBOX_ROUTES).
 */
async function publishRow(producer: Producer, row: OutboxRow, now: Date): Promise<boolean> {
  const route = OUTBOX_ROUTES[row.event_type as OutboxEventType];
  if (route === undefined) return false;
  if (route) await route(producer, row, now);
  return true;
}

async function markPublished(db: Db, ids: bigint[]): Promise<number> {
  if (ids.length === 0) return 0;
  // A row the dispatcher set aside meanwhile (an older worker's schema during a deploy) was published after all: not dead.
  return db.$executeRaw`
    UPDATE outbox_events SET published_at = now(), attempts = attempts + 1, next_attempt_at = NULL, dead_at = NULL
     WHERE id = ANY(${ids}::bigint[]) AND published_at IS NULL`;
}

/**
 * Publishes the given rows and marks them published; returns how many were
 * marked. Callers right after commit pass the rows their transaction wrote;
 * should the dispatcher have published one meanwhile, the deterministic job
 * id makes the second add a no-op. A throw is the caller's to log: the rows
 * published before it are still marked, the rest wait for the dispatcher
 * (which records failures; this path does not, so a commit is never slowed).
 */
export async function publishOutboxRows(db: Db, producer: Producer, rows: OutboxRow[], now = new Date()): Promise<number> {
  const done: bigint[] = [];
  try {
    for (const row of rows) if (await publishRow(producer, row, now)) done.push(row.id);
  } catch (err) {
    await markPublished(db, done).catch(() => 0);
    throw err;
  }
  return markPublished(db, done);
}

/**
 * Publishes rows a transaction has just committed, so their jobs start now.
 * A failure only delays them (the dispatcher publishes every pending row
 * within seconds), so it is not the caller's error; `onError` may log it.
 */
export async function publishCommitted(db: Db, producer: Producer, rows: OutboxRow[], o: { now?: Date; onError?: (err: unknown) => void } = {}): Promise<void> {
  try {
    await publishOutboxRows(db, producer, rows, o.now);
  } catch (err) {
    o.onError?.(err);
  }
}

/**
 * Retries of a row whose publish failed: exponential from `baseMs` (doubling
 * per attempt, capped at `maxMs`). Only a payload its job schema refuses is
 * ever set aside as dead, at its `deadAfterAttempts`-th attempt: not at once,
 * because during a rolling deploy an older worker may refuse a payload the
 * newer code wrote and the newer workers accept (5+10+20+…+300 s ≈ 10 min of
 * retries first). Any other failure (Redis down, a timeout) retries forever:
 * it never dead-letters a valid row.
 */
export const OUTBOX_RETRY = { baseMs: 5_000, maxMs: 300_000, deadAfterAttempts: 8 } as const;

/** schema: the producer's zod validation refused the payload (the same payload fails every time); error: anything else. */
export type OutboxFailureKind = 'schema' | 'error';

export function outboxFailureKind(err: unknown): OutboxFailureKind {
  return err instanceof ZodError ? 'schema' : 'error';
}

/**
 * A dispatcher pass stopped at a row whose publish failed other than by its
 * schema (Redis unreachable, most likely): the rows before it are published
 * and the failure recorded; trying the rest now would only fail them too.
 */
export class OutboxPassInterrupted extends Error {
  constructor(
    readonly outboxId: bigint,
    readonly published: number,
    cause: unknown,
  ) {
    super(`outbox pass stopped at event ${outboxId} after publishing ${published}: ${describeError(cause)}`, { cause });
    this.name = 'OutboxPassInterrupted';
  }
}

/** A row as the dispatcher read it: `attempts` is its version, so two passes trying it at once record one attempt. */
type DispatchedRow = OutboxRow & { attempts: number };

/**
 * Records a failed publish on its row: attempt, short error, next retry, dead
 * once its bound is reached. Guarded by the attempts the pass read: should
 * another pass (the dispatcher job and reconciliation both run one) have
 * recorded this same attempt meanwhile, nothing is written and null is
 * returned, so concurrent passes never count one attempt twice and never set
 * a row aside before its bound. Otherwise returns whether it is now dead.
 */
async function recordPublishFailure(db: Db, row: DispatchedRow, kind: OutboxFailureKind, err: unknown, now: Date): Promise<boolean | null> {
  const { baseMs, maxMs, deadAfterAttempts } = OUTBOX_RETRY;
  // `attempts` on the right is the value before this attempt.
  const [r] = await db.$queryRaw<{ dead: boolean }[]>`
    UPDATE outbox_events
       SET attempts = attempts + 1, last_error = ${describeError(err).slice(0, 300)},
           next_attempt_at = ${now}::timestamptz + LEAST(${maxMs}::float8, ${baseMs}::float8 * power(2, LEAST(attempts, 30))) * interval '1 millisecond',
           dead_at = CASE WHEN ${kind === 'schema'} AND attempts + 1 >= ${deadAfterAttempts} THEN ${now}::timestamptz END
     WHERE id = ${row.id} AND published_at IS NULL AND attempts = ${row.attempts}
    RETURNING dead_at IS NOT NULL AS dead`;
  return r ? r.dead : null;
}

export interface DispatchOutboxOptions {
  limit?: number;
  now?: Date;
  metrics?: Pick<Metrics, 'outboxPublishFailures'>;
  logger?: Pick<Logger, 'warn' | 'error'>;
}

/**
 * The dispatcher's pass: oldest unpublished events first, bounded per pass,
 * skipping dead rows and rows waiting for their retry. Each row is published
 * on its own: a row its schema refuses is recorded (retried later, dead at
 * its bound) and the pass goes on; any other failure is recorded on its row
 * and stops the pass (OutboxPassInterrupted), so a Redis outage costs one
 * failed add per pass rather than an attempt on every row. Since that row is
 * backed off too, not even a row failing that way every time holds up the
 * rows behind it for longer than one pass. Returns how many were published.
 */
export async function dispatchOutbox(db: Db, producer: Producer, opts: DispatchOutboxOptions = {}): Promise<number> {
  const now = opts.now ?? new Date();
  const rows = await db.$queryRaw<DispatchedRow[]>`
    SELECT id, event_type, aggregate_id, payload, trace_id, available_at, attempts FROM outbox_events
     WHERE published_at IS NULL AND dead_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= ${now})
       AND event_type = ANY(${Object.keys(OUTBOX_ROUTES)}::text[])
     ORDER BY available_at, id LIMIT ${opts.limit ?? 500}`;
  const done: bigint[] = [];
  let stopped: OutboxPassInterrupted | undefined;
  for (const row of rows) {
    try {
      if (await publishRow(producer, row, now)) done.push(row.id);
    } catch (err) {
      const kind = outboxFailureKind(err);
      const dead = await recordPublishFailure(db, row, kind, err, now);
      // null: a concurrent pass recorded this attempt (and counted and logged it).
      if (dead !== null) {
        opts.metrics?.outboxPublishFailures.inc({ reason: kind });
        const fields = { outboxId: String(row.id), eventType: row.event_type, kind, error: describeError(err) };
        if (dead) opts.logger?.error(fields, 'outbox event set aside as dead: its payload fails its job schema (docs/runbooks/outbox.md)');
        else opts.logger?.warn(fields, 'outbox event not published; retried later');
      }
      if (kind !== 'schema') {
        stopped = new OutboxPassInterrupted(row.id, done.length, err);
        break;
      }
    }
  }
  const published = await markPublished(db, done);
  if (stopped) throw stopped;
  return published;
}

/** Events still to be published (dead ones are counted apart: countDeadOutbox). */
export async function countPendingOutbox(db: Db): Promise<number> {
  const [row] = await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM outbox_events WHERE published_at IS NULL AND dead_at IS NULL`;
  return Number(row?.n ?? 0);
}

/** Events set aside as dead, waiting for an operator (docs/runbooks/outbox.md). */
export async function countDeadOutbox(db: Db): Promise<number> {
  const [row] = await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM outbox_events WHERE dead_at IS NOT NULL`;
  return Number(row?.n ?? 0);
}
