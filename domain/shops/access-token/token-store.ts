import type { DbOrTx } from '../../../lib/db';
import type { TokenCipher } from '../../../lib/token-cipher';
import { tokenAad } from './token-cipher';

export interface StoredToken {
  shopDomain: string;
  accessToken: string;
  /** The envelope as stored now (after a re-encryption, the new one): invalidation is guarded by it. */
  ciphertext: string;
  scopes: string | null;
}

/**
 * The shop's offline token, decrypted; null when it has none, or when it
 * cannot be decrypted (its key was removed, or the row holds another shop's
 * ciphertext): both mean "exchange a new one". A token under a rotated-out
 * key is re-encrypted with the current key, guarded by the envelope read so
 * a concurrent exchange or invalidation wins.
 */
export async function readAccessToken(db: DbOrTx, cipher: TokenCipher, shopId: string): Promise<StoredToken | null> {
  const [row] = await db.$queryRaw<{ domain: string; ciphertext: string | null; scopes: string | null }[]>`
    SELECT s.domain, t.ciphertext, t.scopes
      FROM shop_access_tokens t JOIN shops s ON s.id = t.shop_id
     WHERE t.shop_id = ${shopId}::uuid AND s.status = 'active'`;
  if (!row?.ciphertext) return null;
  const aad = tokenAad(shopId);
  const plain = cipher.decrypt(row.ciphertext, aad);
  if (!plain) return null;
  let ciphertext = row.ciphertext;
  if (plain.stale) {
    const next = cipher.encrypt(plain.plaintext, aad);
    const n = await db.$executeRaw`
      UPDATE shop_access_tokens SET ciphertext = ${next}, updated_at = now()
       WHERE shop_id = ${shopId}::uuid AND ciphertext = ${row.ciphertext}`;
    if (n === 1) ciphertext = next;
  }
  return { shopDomain: row.domain, accessToken: plain.plaintext, ciphertext, scopes: row.scopes };
}

/**
 * The token stops being used; the next /api request of the shop exchanges a
 * new one. `ciphertext`: only that token (a 401 on an old token never drops a
 * newer one). `obtainedBefore`: only a token obtained before that time
 * (app/scopes_update: a later exchange already has the new scopes).
 */
export async function invalidateAccessToken(db: DbOrTx, shopId: string, only: { ciphertext?: string; obtainedBefore?: Date } = {}): Promise<boolean> {
  const n = await db.$executeRaw`
    UPDATE shop_access_tokens SET ciphertext = NULL, invalidated_at = now(), exchange_not_before = NULL, updated_at = now()
     WHERE shop_id = ${shopId}::uuid AND ciphertext IS NOT NULL
       AND (${only.ciphertext ?? null}::text IS NULL OR ciphertext = ${only.ciphertext ?? null}::text)
       AND (${only.obtainedBefore ?? null}::timestamptz IS NULL OR obtained_at IS NULL OR obtained_at < ${only.obtainedBefore ?? null}::timestamptz)`;
  return n === 1;
}
