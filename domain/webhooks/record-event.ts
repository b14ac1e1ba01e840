import { Batcher, batcherPer } from '../../lib/batcher';
import type { Db, DbOrTx } from '../../lib/db';
import type { WebhookProvider } from './types';

export interface IncomingWebhookEvent {
  provider: WebhookProvider;
  eventId: string;
  topic: string;
  payload: unknown;
  traceId?: string;
  /** The shop, when the sender names it by id (Stripe metadata). */
  shopId?: string | null;
  /** The shop, when the sender names it by domain (Shopify); resolved in the same INSERT. */
  shopDomain?: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Insert-first dedup: the unique (provider, event_id) decides, in one
 * statement, whether this delivery is new. Returns the new row's id, or null
 * for a duplicate (never upsert-then-select: two racing deliveries would both
 * think they were first).
 *
 * Outside a transaction, concurrent deliveries share their INSERT (and its
 * commit): under a burst, one statement stores a few dozen events. Each
 * caller still hears back only once its own row is committed.
 */
export async function recordWebhookEvent(db: DbOrTx, e: IncomingWebhookEvent): Promise<string | null> {
  if (isDb(db)) return inboxBatcher(db).submit(e);
  const [id] = await recordWebhookEvents(db, [e]);
  return id ?? null;
}

const isDb = (db: DbOrTx): db is Db => '$transaction' in db;

const inboxBatcher = batcherPer((db: Db) => new Batcher((events: IncomingWebhookEvent[]) => recordWebhookEvents(db, events), { maxBatch: 200, concurrency: 2 }));

/**
 * Stores several events in one statement; one result per event, in order:
 * the new row's id, or null for a duplicate (of a stored event, or of an
 * earlier event in the same call).
 */
export async function recordWebhookEvents(db: DbOrTx, events: IncomingWebhookEvent[]): Promise<(string | null)[]> {
  if (events.length === 0) return [];
  const shopIds = events.map((e) => (e.shopId && UUID.test(e.shopId) ? e.shopId : null));
  // Delivery reports (the hot path) name no shop; Shopify names it by domain, resolved here.
  const rows = await db.$queryRaw<{ id: string; provider: string; event_id: string }[]>`
    INSERT INTO webhook_events (provider, event_id, topic, shop_id, payload, trace_id)
    SELECT u.provider, u.event_id, u.topic, COALESCE(u.shop_id, (SELECT s.id FROM shops s WHERE s.domain = u.shop_domain)), u.payload, u.trace_id
      FROM unnest(${events.map((e) => e.provider)}::text[], ${events.map((e) => e.eventId)}::text[], ${events.map((e) => e.topic)}::text[],
                  ${shopIds}::uuid[], ${events.map((e) => e.shopDomain ?? null)}::text[],
                  ${events.map((e) => JSON.stringify(e.payload ?? null))}::jsonb[], ${events.map((e) => e.traceId ?? null)}::text[])
           AS u(provider, event_id, topic, shop_id, shop_domain, payload, trace_id)
    ON CONFLICT (provider, event_id) DO NOTHING
    RETURNING id, provider, event_id`;
  const inserted = new Map(rows.map((r) => [`${r.provider}\u0000${r.event_id}`, r.id]));
  return events.map((e) => {
    const key = `${e.provider}\u0000${e.eventId}`;
    const id = inserted.get(key) ?? null;
    // A second delivery of the same event within one call is its duplicate.
    inserted.delete(key);
    return id;
  });
}
