import type { Tx } from '../../lib/db';
import { pauseShopFlows } from '../flows/pause-shop-flows';
import { writeOutboxEvent, type OutboxRow } from '../outbox/outbox';

export interface ShopErasureRequest {
  /** The shop to erase; null when no shop has that domain (erased already, or never installed). */
  shopId: string | null;
  /** When the erasure was first requested (a repeated shop/redact keeps the first time). */
  requestedAt: Date | null;
  eventsDeleted: number;
  /** Starts the erasure job once committed (published after commit, else by the outbox dispatcher). */
  outbox: OutboxRow | null;
}

/**
 * shop/redact, inside the webhook event's transaction: only what is bounded
 * whatever the shop's size. The shop becomes `redacted` (the api refuses it
 * and no token exchange revives it, see session-auth.ts), its live flows are
 * paused, and its erasure is handed to the privacy.shop-erase.v1 job
 * (erase-shop.ts), which deletes its rows in short chunks, its outbox rows
 * and the stored webhook events keyed by its id included: a shop's 14 days
 * of webhooks or 7 of outbox can be millions of rows, too many for this
 * transaction's bound. Deleted here: this very event (`eventId`), and the
 * Shopify events naming the domain that no shop id keys (stored before the
 * shop was known, or for no known shop), which the job could not find.
 */
export async function requestShopErasure(tx: Tx, r: { shopDomain: string; traceId?: string | null; eventId?: string }): Promise<ShopErasureRequest> {
  const [shop] = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM shops WHERE domain = ${r.shopDomain} FOR UPDATE`;
  const shopId = shop?.id ?? null;
  const eventsDeleted = await tx.$executeRaw`
    DELETE FROM webhook_events
     WHERE id = ${r.eventId ?? null}::uuid
        OR (provider = 'shopify' AND shop_id IS NULL
            AND (payload->>'shop_domain' = ${r.shopDomain}::text OR payload->>'myshopify_domain' = ${r.shopDomain}::text))`;
  if (!shopId) return { shopId: null, requestedAt: null, eventsDeleted, outbox: null };

  // Nothing new goes out for the shop while its rows go: its live flows stop
  // claiming runs (its campaigns were cancelled at app/uninstalled, 48 h before).
  await pauseShopFlows(tx, shopId, new Date());
  const [marked] = await tx.$queryRaw<{ erasure_requested_at: Date }[]>`
    UPDATE shops SET status = 'redacted', erasure_requested_at = COALESCE(erasure_requested_at, now()), updated_at = now()
     WHERE id = ${shopId}::uuid
     RETURNING erasure_requested_at`;
  const outbox = await writeOutboxEvent(tx, {
    type: 'privacy.shop-erase.v1',
    aggregateId: shopId,
    payload: { shopId },
    traceId: r.traceId ?? undefined,
  });
  return { shopId, requestedAt: marked!.erasure_requested_at, eventsDeleted, outbox };
}
