import { applyInboundKeyword } from '../../compliance/apply-inbound-keyword';
import { classifyInboundText } from '../../compliance/inbound-keyword';
import { routeInbound } from '../../compliance/inbound-route';
import { recordInboundMessage } from '../../compliance/record-inbound-message';
import { recordKeywordReply } from '../../compliance/record-keyword-reply';
import { publishAfterCommit } from '../publish-after-commit';
import { shopTokenCipher } from '../../shops/access-token/token-cipher';
import { phoneHmac } from '../../compliance/suppressions';
import { normalizePhone, phoneHash } from '../../contacts/phone';
import { inEventTransaction } from '../event-transaction';
import { inboundMessageSchema } from '../sms-payloads';
import type { WebhookHandler } from '../types';

/** Providers send `+15551234567` or `15551234567`; both are the same handset. */
function e164Of(from: string): string | null {
  const trimmed = from.trim();
  return normalizePhone(trimmed) ?? (/^[1-9][0-9]{6,14}$/.test(trimmed) ? normalizePhone(`+${trimmed}`) : null);
}

/** The handset's time, never in the future (a fast clock must not outrank a later STOP). */
function sentAt(timestamp: string | undefined, now: Date): Date {
  const t = timestamp ? Date.parse(timestamp) : Number.NaN;
  return Number.isFinite(t) && t <= now.getTime() ? new Date(t) : now;
}

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
  const e164 = e164Of(m.from);
  const from = e164 ?? m.from.trim();
  const fromHash = phoneHash(from);
  const keyword = classifyInboundText(m.text);
  const at = sentAt(m.timestamp, deps.now());
  const provider = event.provider.replace(/^sms-/, '');
  const fromHmac = phoneHmac(deps.config.PHONE_HASH_KEY, from);
  return inEventTransaction(ctx, async (tx) => {
    const route = await routeInbound(tx, m.to);
    const shopId = await recordInboundMessage(tx, {
      provider,
      providerMessageId: m.id,
      fromPhone: from,
      fromHash,
      to: m.to,
      text: m.text,
      keyword,
      receivedAt: at,
      route,
    });
    const changed = await applyInboundKeyword(tx, {
      keyword,
      fromHash,
      fromHmac,
      route,
      at,
      message: { provider, id: m.id, text: m.text },
    });
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
