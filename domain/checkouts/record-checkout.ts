import type { Tx } from '../../lib/db';
import { normalizePhone, phoneHash } from '../contacts/phone';

/** A checkout as checkouts/create|update describes it, already parsed and bounded (shopify-payloads.ts checkoutSchema). */
export interface ShopifyCheckoutInput {
  shopId: string;
  token: string;
  customerId: string | null;
  /** Any format; stored only as E.164 (and its hash), or not at all when it is not a valid number. */
  phone: string | null;
  abandonedCheckoutUrl: string | null;
  updatedAt: Date;
  completedAt: Date | null;
}

export type RecordCheckoutResult = 'stored' | 'stale';

/**
 * Upserts the checkout by (shop, token). The newest update wins: a row is
 * only overwritten by an update whose Shopify `updated_at` is later, so
 * deliveries in any order end in the newest state; a completion, once seen,
 * is kept, even from a delivery otherwise older than the row (only the
 * completion is taken from it). The contact is linked by customer id, else by phone (never an
 * erased one). The upsert locks the row: a flow's send step holds it FOR
 * SHARE while it decides an abandoned-checkout reminder, so a completion
 * commits before that decision, which then sees it, or after the send
 * (flows/order-placed-since.ts).
 */
export async function recordShopifyCheckout(tx: Tx, c: ShopifyCheckoutInput): Promise<RecordCheckoutResult> {
  const e164 = c.phone ? normalizePhone(c.phone) : null;
  const hash = e164 ? phoneHash(e164) : null;
  const rows = await tx.$queryRaw<{ token: string }[]>`
    WITH target AS (
      SELECT id FROM contacts
       WHERE shop_id = ${c.shopId}::uuid AND erased_at IS NULL
         AND ((${c.customerId}::text IS NOT NULL AND shopify_customer_id = ${c.customerId}::text)
              OR (${hash}::text IS NOT NULL AND phone_hash = ${hash}::text))
       ORDER BY (shopify_customer_id IS NOT DISTINCT FROM ${c.customerId}::text) DESC
       LIMIT 1
    )
    INSERT INTO shopify_checkouts AS k (shop_id, token, customer_id, contact_id, phone_e164, phone_hash, abandoned_checkout_url,
                                        shopify_updated_at, completed_at)
    VALUES (${c.shopId}::uuid, ${c.token}, ${c.customerId}, (SELECT id FROM target), ${e164}, ${hash}, ${c.abandonedCheckoutUrl},
            ${c.updatedAt}, ${c.completedAt})
    ON CONFLICT (shop_id, token) DO UPDATE SET
      customer_id = CASE WHEN k.shopify_updated_at < EXCLUDED.shopify_updated_at THEN EXCLUDED.customer_id ELSE k.customer_id END,
      contact_id = CASE WHEN k.shopify_updated_at < EXCLUDED.shopify_updated_at THEN EXCLUDED.contact_id ELSE k.contact_id END,
      phone_e164 = CASE WHEN k.shopify_updated_at < EXCLUDED.shopify_updated_at THEN EXCLUDED.phone_e164 ELSE k.phone_e164 END,
      phone_hash = CASE WHEN k.shopify_updated_at < EXCLUDED.shopify_updated_at THEN EXCLUDED.phone_hash ELSE k.phone_hash END,
      abandoned_checkout_url = CASE WHEN k.shopify_updated_at < EXCLUDED.shopify_updated_at THEN EXCLUDED.abandoned_checkout_url ELSE k.abandoned_checkout_url END,
      shopify_updated_at = GREATEST(k.shopify_updated_at, EXCLUDED.shopify_updated_at),
      completed_at = COALESCE(k.completed_at, EXCLUDED.completed_at),
      updated_at = now()
     -- A completion only ever arrives once it happened: one delivered late (an
     -- older updated_at than the row's) is still a fact, and is kept alone.
     WHERE k.shopify_updated_at < EXCLUDED.shopify_updated_at
        OR (k.completed_at IS NULL AND EXCLUDED.completed_at IS NOT NULL)
    RETURNING token`;
  return rows.length > 0 ? 'stored' : 'stale';
}
