import { createHmac } from 'node:crypto';
import type { Db, DbOrTx } from '../../lib/db';
import { hmacKey } from '../../lib/hmac-key';

/**
 * The stored form of a number in an opt-out a shop does not hold as a
 * contact: HMAC-SHA256 with PHONE_HASH_KEY. Unlike contacts.phone_hash (plain
 * SHA-256, which anyone can reverse by hashing every phone number), it cannot
 * be matched to a number without the key.
 */
export const phoneHmac = (key: string, e164: string): string => createHmac('sha256', hmacKey(key)).update(e164).digest('hex');

/**
 * Who an opt-out binds (sms_suppressions.scope):
 *  - `shop:<id>`: the shop owning the sender the STOP was sent to;
 *  - `sender:<sender, lowercased>`: every shop sending as that shared sender;
 *  - `all`: every send (a STOP to a number no shop sends as).
 */
export type SuppressionScope = `shop:${string}` | `sender:${string}` | 'all';
export const shopScope = (shopId: string): SuppressionScope => `shop:${shopId}`;
export const senderScope = (senderId: string): SuppressionScope => `sender:${senderId.toLowerCase()}`;

/** Records (or keeps the newest time of) an opt-out in a scope. */
export async function suppress(tx: DbOrTx, s: { hmac: string; scope: SuppressionScope; at: Date }): Promise<void> {
  const shopId = s.scope.startsWith('shop:') ? s.scope.slice('shop:'.length) : null;
  await tx.$executeRaw`
    INSERT INTO sms_suppressions (phone_hmac, scope, shop_id, opted_out_at)
    VALUES (${s.hmac}, ${s.scope}, ${shopId}::uuid, ${s.at})
    ON CONFLICT (phone_hmac, scope) DO UPDATE
       SET opted_out_at = GREATEST(sms_suppressions.opted_out_at, EXCLUDED.opted_out_at), updated_at = now()`;
}

/** A START lifts the opt-out of its scope unless that opt-out is newer (a late STOP always wins). */
export async function liftSuppression(tx: DbOrTx, s: { hmac: string; scope: SuppressionScope; at: Date }): Promise<number> {
  return tx.$executeRaw`
    DELETE FROM sms_suppressions WHERE phone_hmac = ${s.hmac} AND scope = ${s.scope} AND opted_out_at <= ${s.at}`;
}

/**
 * The numbers (E.164, as given) a shop may not text from `senderId`: opted
 * out in the shop's scope, the sender's, or everywhere. One index lookup per
 * number (primary key (phone_hmac, scope)).
 */
export async function suppressedNumbers(db: DbOrTx, key: string, q: { shopId: string; senderId: string; phones: string[] }): Promise<Set<string>> {
  if (q.phones.length === 0) return new Set();
  const byHmac = new Map(q.phones.map((p) => [phoneHmac(key, p), p]));
  const rows = await db.$queryRaw<{ phone_hmac: string }[]>`
    SELECT DISTINCT phone_hmac FROM sms_suppressions
     WHERE phone_hmac = ANY(${[...byHmac.keys()]}::text[])
       AND scope = ANY(${[shopScope(q.shopId), senderScope(q.senderId), 'all']}::text[])`;
  return new Set(rows.map((r) => byHmac.get(r.phone_hmac)!));
}

/**
 * Send time: recipients about to be sent whose number is suppressed for this
 * shop and sender become `skipped` (a contact added after the opt-out, by any
 * path: API, import, Shopify).
 */
export async function skipSuppressed<R extends { status: string; phone: string | null }>(
  db: Db,
  key: string,
  q: { shopId: string; senderId: string },
  recipients: R[],
): Promise<R[]> {
  const phones = recipients.flatMap((r) => (r.status === 'sending' && r.phone ? [r.phone] : []));
  const suppressed = await suppressedNumbers(db, key, { ...q, phones });
  if (suppressed.size === 0) return recipients;
  return recipients.map((r) => (r.status === 'sending' && r.phone && suppressed.has(r.phone) ? { ...r, status: 'skipped' } : r));
}
