import { createHash } from 'node:crypto';
import type { Db } from '../../lib/db';

/**
 * The key under which a signed Shopify body is stored at most once
 * (webhook_body_digests): its SHA-256, so a copy of a body already stored is
 * a duplicate whatever unsigned webhook id, topic or shop comes with it.
 *
 * shop/redact is the exception: its body is exactly `{shop_id, shop_domain}`,
 * the same bytes for every request Shopify makes about one shop, so a shop
 * that installed the app again after its erasure (a new shop row) and then
 * uninstalled it would never be erased again. Its key therefore also names the
 * shop row the body's domain finds now: one erasure per installation, and a
 * copy of the body stays a duplicate for as long as that row exists.
 */
export async function shopifyBodyDigest(db: Db, topic: string, raw: Buffer, bodyShopDomain: string | null): Promise<string> {
  const hash = createHash('sha256').update(raw);
  if (topic === 'shop/redact') {
    const [shop] = bodyShopDomain ? await db.$queryRaw<{ id: string }[]>`SELECT id FROM shops WHERE domain = ${bodyShopDomain}` : [];
    hash.update(`\u0000shop:${shop?.id ?? ''}`);
  }
  return hash.digest('hex');
}
