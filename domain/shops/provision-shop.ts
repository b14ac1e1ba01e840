import type { Db } from '../../lib/db';

export interface ShopRow {
  id: string;
  domain: string;
  status: 'active' | 'uninstalled' | 'redacted';
  /** A valid (not invalidated) offline Admin API token is stored. */
  has_token: boolean;
}

/**
 * The shop for a verified session token; created on first sight (with its
 * wallet) by an insert that races safely: ON CONFLICT leaves the existing row.
 */
export async function provisionShop(db: Db, domain: string, defaultSender: string): Promise<ShopRow> {
  const found = await db.$queryRaw<ShopRow[]>`
    SELECT s.id, s.domain, s.status, (t.ciphertext IS NOT NULL) AS has_token
      FROM shops s LEFT JOIN shop_access_tokens t ON t.shop_id = s.id
     WHERE s.domain = ${domain}`;
  if (found[0]) return found[0];
  return db.$transaction(async (tx) => {
    const [shop] = await tx.$queryRaw<ShopRow[]>`
      INSERT INTO shops (domain, sender_id) VALUES (${domain}, ${defaultSender})
      ON CONFLICT (domain) DO UPDATE SET domain = EXCLUDED.domain
      RETURNING id, domain, status, false AS has_token`;
    await tx.$executeRaw`INSERT INTO credit_wallets (shop_id) VALUES (${shop!.id}::uuid) ON CONFLICT DO NOTHING`;
    return shop as ShopRow;
  });
}
