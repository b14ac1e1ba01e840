import type { Tx } from '../../lib/db';
import { normalizePhone, phoneHash } from '../contacts/phone';
import { lockBuckets } from '../orders/bucket-locks';
import { applyInboundKeyword } from './apply-inbound-keyword';
import { classifyInboundText, type InboundKeyword } from './inbound-keyword';
import type { InboundRoute } from './inbound-route';
import { recordInboundMessage } from './record-inbound-message';
import { phoneHmac } from './suppressions';

/** An inbound text's body as the provider sent it (sms-payloads.ts, inboundMessageSchema). */
export interface InboundBody {
  id: string;
  from: string;
  to: string;
  text: string;
  timestamp?: string | undefined;
}

export interface ReadInboundText {
  /** The number in E.164, when it is one (only such a number gets a keyword reply). */
  e164: string | null;
  /** The number as stored: E.164, else as the provider sent it, trimmed. */
  from: string;
  fromHash: string;
  fromHmac: string;
  keyword: InboundKeyword | null;
  at: Date;
}

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

/** What the inbound handler and customers/redact both read from an inbound text, the same way. */
export function readInboundText(m: InboundBody, phoneHashKey: string, now: Date): ReadInboundText {
  const e164 = e164Of(m.from);
  const from = e164 ?? m.from.trim();
  return { e164, from, fromHash: phoneHash(from), fromHmac: phoneHmac(phoneHashKey, from), keyword: classifyInboundText(m.text), at: sentAt(m.timestamp, now) };
}

/**
 * Stores an inbound text once and applies its keyword in the route's scope
 * (applyInboundKeyword): the one effect of a text, whether its handler runs
 * it or customers/redact, closing the text unprocessed, runs it in its stead.
 */
export async function applyInboundText(
  tx: Tx,
  t: { provider: string; body: InboundBody; read: ReadInboundText; route: InboundRoute },
): Promise<{ shopId: string | null; contactsChanged: number }> {
  const { body, read, route, provider } = t;
  const shopId = await recordInboundMessage(tx, {
    provider,
    providerMessageId: body.id,
    fromPhone: read.from,
    fromHash: read.fromHash,
    to: body.to,
    text: body.text,
    keyword: read.keyword,
    receivedAt: read.at,
    route,
  });
  const contactsChanged = await applyInboundKeyword(tx, {
    keyword: read.keyword,
    fromHash: read.fromHash,
    fromHmac: read.fromHmac,
    route,
    at: read.at,
    message: { provider, id: body.id, text: body.text },
  });
  return { shopId, contactsChanged };
}

/**
 * Serialises the texts from these numbers to a shop's own sender with that
 * shop's customers/redact, which closes such a text still unprocessed and
 * applies it itself. The handler takes it first, before any write; the
 * redact before any contact row (the handler's STOP writes the number's
 * suppression, then its contact): the two never wait on each other in a
 * cycle, and a handler that waited for the redact finds its text closed at
 * its mark and rolls back (the redact applied it). A kind of its own,
 * so an import's chunk (which holds the shop's buyer-phone buckets) never
 * delays an inbound STOP.
 */
export async function lockInboundFrom(tx: Tx, shopId: string, phoneHashes: string[]): Promise<void> {
  await lockBuckets(tx, 'inbound-from', shopId, phoneHashes);
}
