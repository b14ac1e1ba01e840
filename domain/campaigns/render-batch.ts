import type { OutboundMessage } from '../messaging/providers/provider';
import { DEV_TRACKED_LINKS, sampleShortLink, shortLink, type TrackedLinks } from '../links/link-code';
import { idFromReference } from '../messaging/reference-id';
import { countSegments, type SegmentCount } from '../messaging/segments';
import { parseTemplate, renderPieces, withFooter, type ParsedTemplate } from '../messaging/template';
import type { ClaimedRecipient } from './claim-batch';

/** Our client reference for a recipient: stable across retries, so a provider that dedups by it never sends twice. */
export const recipientReference = (recipientId: string): string => `r${recipientId}`;

/** The recipient row id named by one of our client references, or null for anything else. */
export function recipientIdFromReference(reference: string | null | undefined): string | null {
  return idFromReference('r', reference);
}

export interface RenderedBatch {
  messages: OutboundMessage[];
  /** Segments of each message by reference: what is debited if it is accepted. */
  segmentsByReference: Map<string, number>;
  /** Recipients whose message cannot be sent at all, with the reason (never sent, never charged). */
  unsendable: { id: string; code: string }[];
}

/**
 * Renders each claimed recipient's message (placeholders, shop name, opt-out
 * footer per shop setting) and counts its segments. Pure: no I/O, one pass.
 * A text depends only on the recipient's names (the rest is the batch's), and
 * names repeat a lot in any audience: each distinct pair is rendered and
 * counted once per batch. Links are the recipient's own short links
 * (domain/links/link-code.ts), put between the rendered pieces; every short
 * link has the same length and only base62 characters after the base, so
 * the count made with a sample link is each recipient's count.
 */
export function renderBatch(
  recipients: ClaimedRecipient[],
  campaign: { body: string; shopName: string; senderId: string; optOutFooter: boolean; linkNo?: number },
  links: TrackedLinks = DEV_TRACKED_LINKS,
): RenderedBatch {
  const out: RenderedBatch = { messages: [], segmentsByReference: new Map(), unsendable: [] };
  const parsed = parseTemplate(campaign.body);
  const template: ParsedTemplate | null = parsed.ok ? parsed.template : null;
  const sample = sampleShortLink(links.base);
  const rendered = new Map<string, { pieces: string[]; count: SegmentCount }>();
  for (const r of recipients) {
    if (!template) {
      out.unsendable.push({ id: r.id, code: 'invalid_template' });
      continue;
    }
    if (!r.phone) {
      out.unsendable.push({ id: r.id, code: 'no_phone' });
      continue;
    }
    // null and '' render alike only by accident of the template: keep them apart.
    const key = `${r.firstName === null ? '\u0001' : r.firstName}\u0000${r.lastName === null ? '\u0001' : r.lastName}`;
    let m = rendered.get(key);
    if (!m) {
      const pieces = renderPieces(template, { firstName: r.firstName, lastName: r.lastName, shopName: campaign.shopName });
      const bare = pieces.join(sample);
      const text = withFooter(bare, campaign.optOutFooter);
      // The footer only ever appends.
      pieces[pieces.length - 1] += text.slice(bare.length);
      m = { pieces, count: countSegments(text) };
      rendered.set(key, m);
    }
    if (m.count.segments === 0) {
      out.unsendable.push({ id: r.id, code: 'empty_message' });
      continue;
    }
    let text = m.pieces[0] as string;
    for (let i = 1; i < m.pieces.length; i++) {
      // Pieces alternate with links in index order (renderPieces).
      text += shortLink(links, campaign.linkNo ?? 0, Number(r.id), i - 1) + (m.pieces[i] as string);
    }
    const reference = recipientReference(r.id);
    out.messages.push({ reference, to: r.phone, text, from: campaign.senderId, encoding: m.count.encoding, segments: m.count.segments });
    out.segmentsByReference.set(reference, m.count.segments);
  }
  return out;
}
