import { sql, type Sql, type Tx } from '../../lib/db';

/** The opt-out a contact moving onto an erased number takes over from its tombstone. */
export interface CarriedOptOut {
  optedOutAt: Date;
  /** `keyword` stays the person's; any other becomes `redact` (it survived an erasure). */
  source: 'keyword' | 'redact';
}

/**
 * Frees an erased contact's number for the live contact `id` about to move
 * onto it (PATCH phone): the tombstone holds the number's hash under the
 * unique (shop_id, phone_hash) key, yet no contact has the number any more.
 * The tombstone gives up the hash and its opt-out, which the moving contact
 * must take over (opt-outs survive erasure: the number stays opted out).
 * The tombstone itself stays, with its campaign and flow history, under a
 * key no number hashes to; it held no PII already. Nothing happens unless
 * the live contact exists and may move (an opted-out contact keeps its
 * number). Run in the transaction of the move: if the move is refused, the
 * rollback gives the tombstone its number back.
 */
export async function takeErasedNumber(tx: Tx, shopId: string, id: string, newHash: string): Promise<CarriedOptOut | null> {
  return releaseTombstone(tx, shopId, newHash, sql`l.id = ${id}::uuid AND l.opted_out_at IS NULL`);
}

/**
 * The same for a Shopify customer's contact that Shopify moves onto an erased
 * contact's number (customers/update, bulk sync): only when the move will be
 * made, i.e. the contact exists, is not erased, is not on that number yet and
 * this event is newer than the last one applied (`updatedAt`). An opted-out
 * contact may move here (its old number keeps the opt-out as a suppression,
 * keep-left-number-opt-out.ts). The caller holds the customer's lock, so the
 * move it then makes is the one checked here.
 */
export async function takeErasedNumberForCustomer(tx: Tx, shopId: string, customerId: string, newHash: string, updatedAt: Date): Promise<CarriedOptOut | null> {
  return releaseTombstone(
    tx,
    shopId,
    newHash,
    sql`l.shopify_customer_id = ${customerId}::text AND l.phone_hash IS DISTINCT FROM ${newHash}::text
        AND (l.shopify_updated_at IS NULL OR l.shopify_updated_at < ${updatedAt}::timestamptz)`,
  );
}

/** `mover`: a condition on the live contact `l` (of the shop, not erased) that moves onto the number. */
async function releaseTombstone(tx: Tx, shopId: string, newHash: string, mover: Sql): Promise<CarriedOptOut | null> {
  const [released] = await tx.$queryRaw<{ opted_out_at: Date | null; opt_out_source: string | null }[]>`
    WITH old AS (
      SELECT t.id, t.opted_out_at, t.opt_out_source FROM contacts t
       WHERE t.shop_id = ${shopId}::uuid AND t.phone_hash = ${newHash} AND t.erased_at IS NOT NULL
         AND EXISTS (SELECT 1 FROM contacts l WHERE l.shop_id = ${shopId}::uuid AND l.erased_at IS NULL AND ${mover})
         FOR UPDATE OF t
    )
    UPDATE contacts t
       SET phone_hash = 'released:' || t.id::text, sms_consent = 'pending', opted_out_at = NULL, opt_out_source = NULL
      FROM old WHERE t.id = old.id
    RETURNING old.opted_out_at, old.opt_out_source`;
  if (!released?.opted_out_at) return null;
  return { optedOutAt: released.opted_out_at, source: released.opt_out_source === 'keyword' ? 'keyword' : 'redact' };
}
