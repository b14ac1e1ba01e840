import type { DbOrTx } from '../../lib/db';
import { notFound } from '../../lib/errors';
import type { ScanThrottle } from '../../lib/scan-throttle';
import { DEV_TRACKED_LINKS, sampleShortLink } from '../links/link-code';
import { countSegments, type Encoding } from '../messaging/segments';
import { renderTemplate, templateLinks, withFooter } from '../messaging/template';
import { estimateAudience } from './estimate-audience';
import { estimateSendTiming } from './estimate-send-timing';
import { parsedBody } from './parsed-body';
import { loadSendContext } from './send-context';

export interface CampaignPreview {
  text: string;
  encoding: Encoding;
  characters: number;
  segments: number;
  /** The audience size now. */
  recipients: number;
  /** What an enqueue now would reserve. */
  credits: number;
  /** The body's tracked links in order, each sent as the recipient's own short link (shown in `text` as a sample of the same length). */
  links: string[];
  /** Characters each of `links` takes in the message: every short link has this length (`PUBLIC_LINK_BASE/<code>`). */
  shortLinkLength: number;
  /** Of `recipients`, those a campaign texted within the shop's smart-sending window (skipped if sent now; 0 when the cap is off or ignored). Null when not asked for (`sendTiming: false`). */
  frequencyCapped: number | null;
  /** `recipients` − `frequencyCapped`: who would be texted if it were sent now. */
  recipientsAfterCap: number | null;
  /** Of `recipients`, those inside their quiet hours now: deferred to their window's opening, not dropped. */
  deferredNow: number | null;
  /**
   * Of `recipients`, those whose quiet hours never open within 8 days (the
   * shop's window in their zone and the US/CA floor leave no common instant):
   * skipped (quiet_hours) if sent now, not charged. Not in `deferredNow`.
   */
  quietHoursSkipped: number | null;
}

/**
 * The message as it would be sent — rendered exactly as the send path does
 * (render-batch.ts): for `contactId`, else with every contact fallback; the
 * shop's name is always known — plus the audience size and the credits an
 * enqueue would reserve (for every recipient: the cap releases its share at
 * send time), and who smart sending and quiet hours would hold back if it
 * were sent now (estimate-send-timing.ts). Reads only.
 */
export async function previewCampaign(
  db: DbOrTx,
  c: { shopId: string; campaignId: string; contactId?: string; linkBase?: string; now?: Date; quietHoursFloor?: boolean; sendTiming?: boolean; scans?: ScanThrottle },
): Promise<CampaignPreview> {
  const ctx = await loadSendContext(db, c.campaignId, c.shopId);
  if (!ctx) throw notFound('Campaign');
  let names: { first_name: string | null; last_name: string | null } = { first_name: null, last_name: null };
  if (c.contactId !== undefined) {
    const [contact] = await db.$queryRaw<{ first_name: string | null; last_name: string | null }[]>`
      SELECT first_name, last_name FROM contacts WHERE id = ${c.contactId}::uuid AND shop_id = ${c.shopId}::uuid AND erased_at IS NULL`;
    if (!contact) throw notFound('Contact');
    names = contact;
  }
  const template = parsedBody(ctx.body);
  // Each link as a short link of the very length every recipient's has.
  const linkBase = c.linkBase ?? DEV_TRACKED_LINKS.base;
  const sample = sampleShortLink(linkBase);
  const text = withFooter(renderTemplate(template, { firstName: names.first_name, lastName: names.last_name, shopName: ctx.shopName }, () => sample), ctx.optOutFooter);
  const counted = countSegments(text);
  const estimate = await estimateAudience(db, { shopId: c.shopId, body: ctx.body, tags: ctx.audienceTags, orders: ctx.audienceOrders, shopName: ctx.shopName, optOutFooter: ctx.optOutFooter, linkBase });
  const timing = c.sendTiming === false ? null : await estimateSendTiming(db, ctx, { now: c.now ?? new Date(), quietHoursFloor: c.quietHoursFloor ?? true, scans: c.scans });
  const frequencyCapped = timing ? Math.min(timing.frequencyCapped, estimate.recipients) : null;
  return {
    text,
    encoding: counted.encoding,
    characters: counted.characters,
    segments: counted.segments,
    recipients: estimate.recipients,
    credits: estimate.credits,
    links: templateLinks(template),
    shortLinkLength: sample.length,
    frequencyCapped,
    recipientsAfterCap: frequencyCapped === null ? null : estimate.recipients - frequencyCapped,
    deferredNow: timing ? Math.min(timing.deferredNow, estimate.recipients) : null,
    quietHoursSkipped: timing ? Math.min(timing.quietHoursSkipped, estimate.recipients) : null,
  };
}
