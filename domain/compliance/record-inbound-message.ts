import type { Tx } from '../../lib/db';
import type { InboundKeyword } from './inbound-keyword';

export interface InboundRecord {
  provider: string;
  providerMessageId: string;
  fromPhone: string;
  fromHash: string;
  to: string;
  text: string;
  keyword: InboundKeyword | null;
  receivedAt: Date;
}

/**
 * Stores an inbound text once per shop that sends as `to` (so erasing one
 * shop's data leaves the others' intact), or once without a shop when no
 * shop uses that sender. Idempotent per (provider, message id, shop).
 * Returns the shop ids it was stored for.
 */
export async function recordInboundMessage(tx: Tx, m: InboundRecord): Promise<string[]> {
  const rows = await tx.$queryRaw<{ shop_id: string | null }[]>`
    WITH targets AS (
      SELECT s.id AS shop_id FROM shops s WHERE s.sender_id = ${m.to}
      UNION ALL
      SELECT NULL::uuid WHERE NOT EXISTS (SELECT 1 FROM shops WHERE sender_id = ${m.to})
    )
    INSERT INTO inbound_messages (shop_id, provider, provider_message_id, from_phone, from_hash, to_number, text, keyword, received_at)
    SELECT t.shop_id, ${m.provider}, ${m.providerMessageId}, ${m.fromPhone}, ${m.fromHash}, ${m.to}, ${m.text}, ${m.keyword}, ${m.receivedAt}
      FROM targets t
     WHERE NOT EXISTS (
       SELECT 1 FROM inbound_messages i
        WHERE i.provider = ${m.provider} AND i.provider_message_id = ${m.providerMessageId}
          AND i.shop_id IS NOT DISTINCT FROM t.shop_id)
    RETURNING shop_id`;
  return rows.map((r) => r.shop_id).filter((id): id is string => id !== null);
}
