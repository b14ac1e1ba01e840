import { sql, type DbOrTx } from '../../lib/db';
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
 */
export async function recordWebhookEvent(db: DbOrTx, e: IncomingWebhookEvent): Promise<string | null> {
  const shopId = e.shopId && UUID.test(e.shopId) ? e.shopId : null;
  // Delivery reports (the hot path) name no shop: their INSERT carries no lookup.
  const shop = e.shopDomain ? sql`COALESCE(${shopId}::uuid, (SELECT id FROM shops WHERE domain = ${e.shopDomain}))` : sql`${shopId}::uuid`;
  const rows = await db.$queryRaw<{ id: string }[]>`
    INSERT INTO webhook_events (provider, event_id, topic, shop_id, payload, trace_id)
    VALUES (${e.provider}, ${e.eventId}, ${e.topic}, ${shop}, ${JSON.stringify(e.payload ?? null)}::jsonb, ${e.traceId ?? null})
    ON CONFLICT (provider, event_id) DO NOTHING
    RETURNING id`;
  return rows[0]?.id ?? null;
}
