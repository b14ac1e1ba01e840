import type { Express } from 'express';
import request from 'supertest';
import type { Db } from '../lib/db';
import { sessionToken } from './session-token';

/**
 * Installs a shop the way Shopify's managed install does: its first
 * authenticated request exchanges the session token (the api must run with
 * SHOPIFY_INSTALL_BY_EXCHANGE=true and SHOPIFY_ADMIN_API_BASE at a fake
 * Shopify). Returns the shop's id once its token is stored.
 */
export async function installShop(app: Express, db: Db, domain: string): Promise<string> {
  const res = await request(app).get('/api/shop').set('Authorization', `Bearer ${await sessionToken(domain)}`);
  if (res.status !== 200) throw new Error(`install of ${domain}: GET /api/shop answered ${res.status}`);
  const [row] = await db.$queryRaw<{ ciphertext: string | null }[]>`
    SELECT t.ciphertext FROM shop_access_tokens t JOIN shops s ON s.id = t.shop_id WHERE s.domain = ${domain}`;
  if (!row?.ciphertext) throw new Error(`install of ${domain}: no token stored (is the fake Shopify configured?)`);
  return (res.body as { id: string }).id;
}
