import type { Tx } from '../../lib/db';
import { allowConsentErasure } from '../consent/consent-source';

export interface RedactShopResult {
  shopDeleted: boolean;
  eventsDeleted: number;
}

/**
 * shop/redact (48 h after uninstall): erases ALL of a shop's data. Deleting
 * the shop row cascades to every table that references it; what holds the
 * shop without a foreign key (stored webhook events, outbox rows, inbound
 * texts to no shop) is deleted explicitly. Idempotent: a second run finds
 * nothing.
 */
export async function redactShop(tx: Tx, r: { shopId: string | null; shopDomain: string | null }): Promise<RedactShopResult> {
  const [shop] = await tx.$queryRaw<{ id: string; domain: string }[]>`
    SELECT id, domain FROM shops
     WHERE id = ${r.shopId}::uuid OR domain = ${r.shopDomain}::text
     LIMIT 1 FOR UPDATE`;
  const shopId = shop?.id ?? r.shopId;
  const domain = shop?.domain ?? r.shopDomain;

  if (shopId) {
    await tx.$executeRaw`
      DELETE FROM outbox_events
       WHERE payload->>'shopId' = ${shopId}::text
          OR aggregate_id IN (SELECT id::text FROM campaigns WHERE shop_id = ${shopId}::uuid)`;
  }
  const eventsDeleted = await tx.$executeRaw`
    DELETE FROM webhook_events
     WHERE (${shopId}::uuid IS NOT NULL AND shop_id = ${shopId}::uuid)
        OR (${domain}::text IS NOT NULL AND provider = 'shopify'
            AND (payload->>'shop_domain' = ${domain}::text OR payload->>'myshopify_domain' = ${domain}::text))`;
  if (!shop) return { shopDeleted: false, eventsDeleted };
  await tx.$executeRaw`DELETE FROM inbound_messages WHERE shop_id = ${shop.id}::uuid`;
  // The cascade reaches the append-only consent records: this is the erasure they allow.
  await allowConsentErasure(tx);
  await tx.$executeRaw`DELETE FROM shops WHERE id = ${shop.id}::uuid`;
  return { shopDeleted: true, eventsDeleted };
}
