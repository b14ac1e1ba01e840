import type { Tx } from '../../lib/db';
import type { TokenCipher } from '../../lib/token-cipher';
import { writeOutboxEvent, type OutboxRow } from '../outbox/outbox';
import type { InboundKeyword } from './inbound-keyword';
import type { InboundRoute } from './inbound-route';
import { DEFAULT_KEYWORD_REPLIES, renderKeywordReply } from './keyword-reply-texts';
import { shopDisplayName } from '../shops/shop-display-name';

/** Binds a sealed number to its reply: copied to another row, it does not open. */
export const keywordReplyAad = (provider: string, inboundMessageId: string): string => `keyword-reply:${provider}:${inboundMessageId}`;

export interface KeywordReplyRequest {
  provider: string;
  /** The provider's id of the inbound text: the reply's unique key with `provider`. */
  inboundMessageId: string;
  keyword: InboundKeyword;
  route: InboundRoute;
  /** The handset, E.164: stored sealed (`cipher`, bound to this reply), never readable at rest. */
  to: string;
  cipher: Pick<TokenCipher, 'encrypt'>;
  toHash: string;
  toHmac: string;
  /** The number the text was sent to: the reply comes from it. */
  sender: string;
  traceId: string | null;
}

/**
 * In the inbound text's transaction: the reply it is owed, once. The unique
 * (provider, inbound id) makes a replayed or re-delivered text write nothing
 * (and no second outbox event); a new row writes the `keyword.reply.v1`
 * event, published after commit (docs/webhooks.md, "Keyword replies"). The
 * text is fixed now, in the shop's wording when the sender is the shop's
 * own; a shared or unknown sender speaks as itself with the default texts.
 * Whether it may still be sent is decided by the job (send-keyword-reply.ts).
 * Returns the outbox row to publish, or null.
 */
export async function recordKeywordReply(tx: Tx, r: KeywordReplyRequest): Promise<OutboxRow | null> {
  const sender = /^\+[0-9]{3,15}$/.test(r.sender.trim()) ? r.sender.trim().slice(1) : r.sender.trim();
  const shopId = r.route.kind === 'owned' ? r.route.shopId : null;
  let template = DEFAULT_KEYWORD_REPLIES[r.keyword];
  let vars = { shopName: sender, shopUrl: '' };
  if (shopId) {
    const [shop] = await tx.$queryRaw<{ name: string | null; domain: string; stop: string | null; start: string | null; help: string | null }[]>`
      SELECT name, domain, keyword_reply_stop AS stop, keyword_reply_start AS start, keyword_reply_help AS help FROM shops WHERE id = ${shopId}::uuid`;
    if (shop) {
      template = (r.keyword === 'STOP' ? shop.stop : r.keyword === 'START' ? shop.start : shop.help) ?? template;
      vars = { shopName: shopDisplayName(shop.name, shop.domain), shopUrl: `https://${shop.domain}` };
    }
  }
  // Without a shop there is no URL to give: the default HELP text drops it.
  if (!vars.shopUrl) template = template.replace(/\s*Help: \{\{shopUrl\}\}\./, '');
  const body = renderKeywordReply(template, vars);
  const [row] = await tx.$queryRaw<{ id: bigint }[]>`
    INSERT INTO keyword_replies (provider, inbound_message_id, shop_id, keyword, scope, sender, to_phone_sealed, to_hash, to_hmac, body, trace_id)
    VALUES (${r.provider}, ${r.inboundMessageId}, ${shopId}::uuid, ${r.keyword}, ${r.route.scope}, ${sender}, ${r.cipher.encrypt(r.to, keywordReplyAad(r.provider, r.inboundMessageId))}, ${r.toHash}, ${r.toHmac}, ${body}, ${r.traceId})
    ON CONFLICT (provider, inbound_message_id) DO NOTHING
    RETURNING id`;
  if (!row) return null;
  return writeOutboxEvent(tx, {
    type: 'keyword.reply.v1',
    aggregateId: String(row.id),
    payload: { replyId: String(row.id) },
    traceId: r.traceId ?? undefined,
  });
}
