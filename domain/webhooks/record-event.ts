import { Batcher, batcherPer } from '../../lib/batcher';
import type { Db, DbOrTx } from '../../lib/db';
import { pgErrorCode } from '../../lib/pg-errors';
import { toStorable } from '../../lib/storable-text';
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
  /**
   * SHA-256 (hex) of the signed body, where the signature covers the body
   * only (Shopify): a body already recorded makes the event a duplicate,
   * whatever its event id (webhook_body_digests).
   */
  bodySha256?: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Insert-first dedup: the unique (provider, event_id) decides, in one
 * statement, whether this delivery is new; for a body-signed sender the
 * unique (provider, body_sha256) of webhook_body_digests decides too, in the
 * same statement. Returns the new row's id, or null for a duplicate (never
 * upsert-then-select: two racing deliveries would both think they were first).
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

// Deliveries share an INSERT, never its failure: a batch that fails is stored again one event at a time (a repeat is a duplicate, never a second row).
const inboxBatcher = batcherPer(
  (db: Db) => new Batcher((events: IncomingWebhookEvent[]) => recordWebhookEvents(db, events), { maxBatch: 200, concurrency: 2, isolateFailures: true }),
);

/**
 * Stores several events in one statement; one result per event, in order:
 * the new row's id, or null for a duplicate (of a stored event, or of an
 * earlier event in the same call).
 */
export async function recordWebhookEvents(db: DbOrTx, events: IncomingWebhookEvent[]): Promise<(string | null)[]> {
  if (events.length === 0) return [];
  // A body repeated within one call is the later event's duplicate.
  const firstOfBody = new Set<string>();
  const repeated = new Set<IncomingWebhookEvent>();
  for (const e of events) {
    if (!e.bodySha256) continue;
    const key = `${e.provider}\u0000${e.bodySha256}`;
    if (firstOfBody.has(key)) repeated.add(e);
    firstOfBody.add(key);
  }
  const fresh = repeated.size === 0 ? events : events.filter((e) => !repeated.has(e));
  const insert = (batch: IncomingWebhookEvent[]) => (batch.some((e) => e.bodySha256) ? insertWithDigests(db, batch) : insertEvents(db, batch));
  let rows: Inserted;
  try {
    rows = await insert(fresh);
  } catch (err) {
    // A verified body may carry text jsonb refuses (NUL, an unpaired surrogate):
    // stored with U+FFFD in its place rather than refused for good, which a
    // sender retrying for days (Shopify drops the subscription) would suffer.
    if (!UNSTORABLE_TEXT_ERRORS.has(pgErrorCode(err) ?? '')) throw err;
    rows = await insert(fresh.map((e) => ({ ...e, payload: toStorable(e.payload) })));
  }
  const inserted = new Map(rows.map((r) => [`${r.provider}\u0000${r.event_id}`, r.id]));
  return events.map((e) => {
    if (repeated.has(e)) return null;
    const key = `${e.provider}\u0000${e.eventId}`;
    const id = inserted.get(key) ?? null;
    // A second delivery of the same event within one call is its duplicate.
    inserted.delete(key);
    return id;
  });
}

type Inserted = { id: string; provider: string; event_id: string }[];

// untranslatable_character (\u0000 in jsonb), invalid_text_representation (an unpaired surrogate's escape).
const UNSTORABLE_TEXT_ERRORS = new Set(['22P05', '22P02']);

const shopIdsOf = (events: IncomingWebhookEvent[]) => events.map((e) => (e.shopId && UUID.test(e.shopId) ? e.shopId : null));

// The payloads as ONE JSON array, zipped with the other columns by position
// (ROWS FROM): as a jsonb[] literal every quote of every payload was escaped
// in JS, ~6 % of the api's CPU with 100-report callbacks (profiled).
const payloadsOf = (events: IncomingWebhookEvent[]): string => JSON.stringify(events.map((e) => e.payload ?? null));

// Delivery reports and Stripe events (the hot path) carry no body digest and
// name no shop; Shopify names it by domain, resolved in the INSERT.
function insertEvents(db: DbOrTx, events: IncomingWebhookEvent[]): Promise<Inserted> {
  return db.$queryRaw<Inserted>`
    INSERT INTO webhook_events (provider, event_id, topic, shop_id, payload, trace_id)
    SELECT u.provider, u.event_id, u.topic, COALESCE(u.shop_id, (SELECT s.id FROM shops s WHERE s.domain = u.shop_domain)), u.payload, u.trace_id
      FROM ROWS FROM (unnest(${events.map((e) => e.provider)}::text[]), unnest(${events.map((e) => e.eventId)}::text[]), unnest(${events.map((e) => e.topic)}::text[]),
                      unnest(${shopIdsOf(events)}::uuid[]), unnest(${events.map((e) => e.shopDomain ?? null)}::text[]),
                      jsonb_array_elements(${payloadsOf(events)}::jsonb), unnest(${events.map((e) => e.traceId ?? null)}::text[]))
           AS u(provider, event_id, topic, shop_id, shop_domain, payload, trace_id)
    ON CONFLICT (provider, event_id) DO NOTHING
    RETURNING id, provider, event_id`;
}

/**
 * The same, recording each body's digest first: an event is stored only if
 * its digest is new (a concurrent delivery of the same body waits on the
 * digest's key and then finds it taken).
 */
function insertWithDigests(db: DbOrTx, events: IncomingWebhookEvent[]): Promise<Inserted> {
  return db.$queryRaw<Inserted>`
    WITH u AS (
      SELECT * FROM ROWS FROM (unnest(${events.map((e) => e.provider)}::text[]), unnest(${events.map((e) => e.eventId)}::text[]), unnest(${events.map((e) => e.topic)}::text[]),
                               unnest(${shopIdsOf(events)}::uuid[]), unnest(${events.map((e) => e.shopDomain ?? null)}::text[]),
                               jsonb_array_elements(${payloadsOf(events)}::jsonb), unnest(${events.map((e) => e.traceId ?? null)}::text[]),
                               unnest(${events.map((e) => e.bodySha256 ?? null)}::text[]))
               AS u(provider, event_id, topic, shop_id, shop_domain, payload, trace_id, body_sha256)
    ), digests AS (
      INSERT INTO webhook_body_digests (provider, body_sha256)
      SELECT u.provider, u.body_sha256 FROM u WHERE u.body_sha256 IS NOT NULL
      ON CONFLICT DO NOTHING
      RETURNING provider, body_sha256
    )
    INSERT INTO webhook_events (provider, event_id, topic, shop_id, payload, trace_id)
    SELECT u.provider, u.event_id, u.topic, COALESCE(u.shop_id, (SELECT s.id FROM shops s WHERE s.domain = u.shop_domain)), u.payload, u.trace_id
      FROM u
     WHERE u.body_sha256 IS NULL OR EXISTS (SELECT 1 FROM digests d WHERE d.provider = u.provider AND d.body_sha256 = u.body_sha256)
    ON CONFLICT (provider, event_id) DO NOTHING
    RETURNING id, provider, event_id`;
}
