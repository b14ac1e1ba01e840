import { applyInboundKeyword } from '../../compliance/apply-inbound-keyword';
import { classifyInboundText } from '../../compliance/inbound-keyword';
import { recordInboundMessage } from '../../compliance/record-inbound-message';
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
 * An inbound text: stored for every shop that sends as `to`, and a STOP /
 * START keyword applied to those shops' contacts, in one transaction with
 * the event's mark, which also minimises the event's payload to hashes. The
 * route runs this inline (the opt-out holds before the provider gets its
 * 200); the job is only the fallback.
 */
export const smsInbound: WebhookHandler = async (ctx) => {
  const { deps, event } = ctx;
  // Already applied and minimised: a replay has nothing left to do.
  if ((event.payload as { minimized?: unknown } | null)?.minimized === true) return inEventTransaction(ctx, async () => ({ outcome: 'processed' }));
  const m = inboundMessageSchema.parse(event.payload);
  const fromE164 = e164Of(m.from);
  const fromHash = phoneHash(fromE164 ?? m.from.trim());
  const keyword = classifyInboundText(m.text);
  const at = sentAt(m.timestamp, deps.now());
  return inEventTransaction(ctx, async (tx) => {
    const shops = await recordInboundMessage(tx, {
      provider: event.provider.replace(/^sms-/, ''),
      providerMessageId: m.id,
      fromPhone: fromE164 ?? m.from.trim(),
      fromHash,
      to: m.to,
      text: m.text,
      keyword,
      receivedAt: at,
    });
    const changed = await applyInboundKeyword(tx, { keyword, fromHash, fromE164, to: m.to, at });
    // The number and text now live in inbound_messages only (where erasure finds them by hash).
    await tx.$executeRaw`
      UPDATE webhook_events
         SET payload = jsonb_build_object('minimized', true, 'id', ${m.id}::text, 'to', ${m.to}::text, 'fromHash', ${fromHash}::text, 'keyword', ${keyword}::text)
       WHERE id = ${event.id}::uuid`;
    ctx.afterCommit(() => deps.logger.info({ webhookEventId: event.id, keyword, shops: shops.length, contactsChanged: changed }, 'inbound text recorded'));
    return { outcome: 'processed', shopId: shops.length === 1 ? shops[0] : null };
  });
};
