import type { Tx } from '../../lib/db';
import type { InboundKeyword } from './inbound-keyword';

export interface KeywordEffect {
  keyword: InboundKeyword | null;
  /** The number's hash (contacts.phone_hash); tombstones match by it too. */
  fromHash: string;
  /** The number in E.164 when it is one (a new opted-out contact keeps it so imports find it). */
  fromE164: string | null;
  /** The sender id the text was sent to (shops.sender_id). */
  to: string;
  /** When the handset sent it (clamped to now by the caller). */
  at: Date;
}

/**
 * STOP opts the number out of EVERY shop that sends as `to` (a shared sender
 * must never under-apply an opt-out), creating an opted-out contact where the
 * number is not one yet so later imports cannot make it sendable again.
 * START opts back in where the opt-out is not newer than the START (a STOP
 * that arrives late always wins). Returns the contacts changed.
 */
export async function applyInboundKeyword(tx: Tx, e: KeywordEffect): Promise<number> {
  if (e.keyword === 'STOP') {
    return tx.$executeRaw`
      INSERT INTO contacts (shop_id, phone_e164, phone_hash, sms_consent, opted_out_at, opt_out_source)
      SELECT s.id, ${e.fromE164}, ${e.fromHash}, 'unsubscribed', ${e.at}, 'keyword' FROM shops s WHERE s.sender_id = ${e.to}
      ON CONFLICT (shop_id, phone_hash) DO UPDATE
         SET sms_consent = 'unsubscribed',
             opted_out_at = GREATEST(COALESCE(contacts.opted_out_at, EXCLUDED.opted_out_at), EXCLUDED.opted_out_at),
             opt_out_source = 'keyword',
             updated_at = now()`;
  }
  if (e.keyword === 'START') {
    return tx.$executeRaw`
      UPDATE contacts c
         SET sms_consent = 'subscribed', opted_out_at = NULL, opt_out_source = NULL, updated_at = now()
        FROM shops s
       WHERE s.sender_id = ${e.to} AND c.shop_id = s.id AND c.phone_hash = ${e.fromHash}
         AND c.erased_at IS NULL AND c.phone_e164 IS NOT NULL
         AND (c.opted_out_at IS NULL OR c.opted_out_at <= ${e.at})`;
  }
  return 0;
}
