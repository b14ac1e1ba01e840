import { applyInboundText, lockInboundFrom, readInboundText } from '../../compliance/inbound-text';
import { routeInbound } from '../../compliance/inbound-route';
import { recordKeywordReply } from '../../compliance/record-keyword-reply';
import { publishAfterCommit } from '../publish-after-commit';
import { shopTokenCipher } from '../../shops/access-token/token-cipher';
import { inEventTransaction } from '../event-transaction';
import { inboundMessageSchema } from '../sms-payloads';
import type { WebhookHandler } from '../types';

/**
 * An inbound text: routed by the sender it was sent to (routeInbound: the
 * owning shop, a shared sender's shops, or none), stored once, and a STOP /
 * START applied in the route's scope, in one transaction with the event's
 * mark, which also minimises the event's payload to hashes. No shop gains a
 * contact or a readable number it did not have. The route runs this inline
 * (the opt-out holds before the provider gets its 200); the job is only the
 * fallback.
 */
export const smsInbound: WebhookHandler = async (ctx) => {
  const { deps, event } = ctx;
  // Already applied and minimised: a replay has nothing left to do.
  if ((event.payload as { minimized?: unknown } | null)?.minimized === true) return inEventTransaction(ctx, async () => ({ outcome: 'processed' }));
  const m = inboundMessageSchema.parse(event.payload);
  const read = readInboundText(m, deps.config.PHONE_HASH_KEY, deps.now());
  const { e164, fromHash, fromHmac, keyword } = read;
  const provider = event.provider.replace(/^sms-/, '');
  return inEventTransaction(ctx, async (tx) => {
    const route = await routeInbound(tx, m.to);
    // Before any write: the shop's customers/redact may be closing this very text (inbound-text.ts).
    if (route.kind === 'owned') await lockInboundFrom(tx, route.shopId, [fromHash]);
    const { shopId, contactsChanged: changed } = await applyInboundText(tx, { provider, body: m, read, route });
    // The confirmation it is owed, once per inbound text (only to a number we can text back).
    const reply =
      keyword && e164
        ? await recordKeywordReply(tx, {
            provider,
            inboundMessageId: m.id,
            keyword,
            route,
            to: e164,
            cipher: shopTokenCipher(deps.config),
            toHash: fromHash,
            toHmac: fromHmac,
            sender: m.to,
            traceId: event.trace_id,
          })
        : null;
    publishAfterCommit(ctx, reply, 'keyword reply');
    // The number and text now live in inbound_messages only (where erasure finds them by hash), if anywhere.
    await tx.$executeRaw`
      UPDATE webhook_events
         SET payload = jsonb_build_object('minimized', true, 'id', ${m.id}::text, 'to', ${m.to}::text, 'fromHash', ${fromHash}::text, 'keyword', ${keyword}::text)
       WHERE id = ${event.id}::uuid`;
    ctx.afterCommit(() => deps.logger.info({ webhookEventId: event.id, keyword, route: route.kind, contactsChanged: changed }, 'inbound text recorded'));
    return { outcome: 'processed', shopId };
  });
};
