import type { Tx } from '../../lib/db';
import type { InboundRoute } from './inbound-route';
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
  route: InboundRoute;
}

/**
 * Stores an inbound text once. A text to a sender a shop owns is that shop's
 * (number and text kept, where its privacy export and erasure find them). A
 * text to a shared sender, or to no shop's sender, belongs to no shop: it is
 * kept without number or text (hash and keyword only), so no shop can ever
 * read a number through it. Idempotent per (provider, message id).
 * Returns the shop it was stored for, if any.
 */
export async function recordInboundMessage(tx: Tx, m: InboundRecord): Promise<string | null> {
  const shopId = m.route.kind === 'owned' ? m.route.shopId : null;
  await tx.$executeRaw`
    INSERT INTO inbound_messages (shop_id, provider, provider_message_id, from_phone, from_hash, to_number, text, keyword, received_at)
    SELECT ${shopId}::uuid, ${m.provider}, ${m.providerMessageId}, ${shopId ? m.fromPhone : null}, ${m.fromHash}, ${m.to},
           ${shopId ? m.text : null}, ${m.keyword}, ${m.receivedAt}
     WHERE NOT EXISTS (
       SELECT 1 FROM inbound_messages i WHERE i.provider = ${m.provider} AND i.provider_message_id = ${m.providerMessageId})`;
  return shopId;
}
