import { buyerContactCtes } from '../contacts/buyer-contact-sql';
import type { Tx } from '../../lib/db';
import { phoneHash } from '../contacts/phone';

/** A checkout as checkouts/create|update describes it, already parsed and bounded (shopify-payloads.ts checkoutSchema). */
export interface ShopifyCheckoutInput {
  shopId: string;
  token: string;
  customerId: string | null;
  /**
   * The buyer's numbers in E.164, most trusted first, read as an order's are
   * (domain/orders/buyer-phones.ts). The first is the one stored (with its
   * hash); all of them find the contact when the customer id does not, and
   * all their hashes are kept (buyer_phone_hashes), so a privacy request or
   * an erasure by any of them finds the checkout.
   */
  phones: string[];
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
 * completion is taken from it). The contact is linked as an order's is
 * (record-order.ts): the one holding the customer id, else the one the
 * buyer's numbers name, only when they name exactly one (never an erased
 * one, nor, for a checkout naming a customer, one holding another customer
 * id: buyer-contact-sql.ts). The upsert locks the row: a flow's send step holds it FOR
 * SHARE while it decides an abandoned-checkout reminder, so a completion
 * commits before that decision, which then sees it, or after the send
 * (flows/order-placed-since.ts).
 */
export async function recordShopifyCheckout(tx: Tx, c: ShopifyCheckoutInput): Promise<RecordCheckoutResult> {
  const e164 = c.phones[0] ?? null;
  const hash = e164 ? phoneHash(e164) : null;
  const hashes = c.phones.map(phoneHash);
  const rows = await tx.$queryRaw<{ token: string }[]>`
    WITH ${buyerContactCtes(c.shopId, c.customerId, hashes)}
    INSERT INTO shopify_checkouts AS k (shop_id, token, customer_id, contact_id, phone_e164, phone_hash, buyer_phone_hashes, abandoned_checkout_url,
                                        shopify_updated_at, completed_at)
    VALUES (${c.shopId}::uuid, ${c.token}, ${c.customerId}, (SELECT id FROM target), ${e164}, ${hash}, ${hashes}::text[], ${c.abandonedCheckoutUrl},
            ${c.updatedAt}, ${c.completedAt})
    ON CONFLICT (shop_id, token) DO UPDATE SET
      customer_id = CASE WHEN k.shopify_updated_at < EXCLUDED.shopify_updated_at THEN EXCLUDED.customer_id ELSE k.customer_id END,
      contact_id = CASE WHEN k.shopify_updated_at < EXCLUDED.shopify_updated_at THEN EXCLUDED.contact_id ELSE k.contact_id END,
      phone_e164 = CASE WHEN k.shopify_updated_at < EXCLUDED.shopify_updated_at THEN EXCLUDED.phone_e164 ELSE k.phone_e164 END,
      phone_hash = CASE WHEN k.shopify_updated_at < EXCLUDED.shopify_updated_at THEN EXCLUDED.phone_hash ELSE k.phone_hash END,
      buyer_phone_hashes = CASE WHEN k.shopify_updated_at < EXCLUDED.shopify_updated_at THEN EXCLUDED.buyer_phone_hashes ELSE k.buyer_phone_hashes END,
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
