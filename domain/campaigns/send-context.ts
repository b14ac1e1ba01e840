import { empty, raw, sql, type DbOrTx } from '../../lib/db';
import { orderFiltersOf, type OrderFilters } from './audience';
import { shopDisplayName } from '../shops/shop-display-name';

export type CampaignStatus = 'draft' | 'scheduled' | 'queued' | 'sending' | 'completed' | 'cancelled' | 'failed';

/** What launching and sending a campaign need to know about it and its shop, read in one query. */
export interface SendContext {
  campaignId: string;
  shopId: string;
  status: CampaignStatus;
  body: string;
  /** The stored audience document, as read (an optimistic writer compares it). */
  audience: unknown;
  audienceTags: string[];
  /** The audience's order-summary ranges (audience.ts), null when it has none. */
  audienceOrders: OrderFilters | null;
  scheduledAt: Date | null;
  traceId: string | null;
  /** The name {{shopName}} renders as: the one frozen at enqueue, else the shop's. */
  shopName: string;
  senderId: string;
  timezone: string;
  quietStart: string;
  quietEnd: string;
  /** Whether the opt-out footer is appended: as frozen at enqueue, else the shop's setting. */
  optOutFooter: boolean;
  /**
   * The most segments any of its messages may have, what its reservation
   * holds per recipient (segments_per_message, raised by the launch when
   * longer names joined the audience); null when it bounds nothing: not
   * enqueued, or enqueued before the render was frozen (such a campaign
   * renders with the shop's current name and footer).
   */
  messageBound: number | null;
  /** The shop's frequency cap, null when off for this campaign (shop setting off, or the campaign ignores it). */
  frequencyCap: { windowHours: number } | null;
  /** The campaign's number in its short links (domain/links/link-code.ts). */
  linkNo: number;
}

/** The columns loadSendContext reads (campaigns c JOIN shops s), for a caller that reads more in the same statement. */
export const SEND_CONTEXT_COLUMNS = raw(
  'c.id, c.shop_id, c.status, c.body, c.audience, c.scheduled_at, c.trace_id, s.name AS shop_name, s.domain, s.sender_id, s.timezone, s.quiet_hours_start, s.quiet_hours_end, s.opt_out_footer, c.link_no, ' +
    'c.shop_name_at_enqueue, c.opt_out_footer_at_enqueue, c.segments_per_message, ' +
    'c.ignore_smart_sending, s.smart_sending_enabled, s.smart_sending_window_hours',
);

export interface SendContextRow {
  id: string;
  shop_id: string;
  status: CampaignStatus;
  body: string;
  audience: unknown;
  scheduled_at: Date | null;
  trace_id: string | null;
  shop_name: string | null;
  domain: string;
  sender_id: string;
  timezone: string;
  quiet_hours_start: string;
  quiet_hours_end: string;
  opt_out_footer: boolean;
  shop_name_at_enqueue: string | null;
  opt_out_footer_at_enqueue: boolean | null;
  segments_per_message: number | null;
  link_no: bigint;
  ignore_smart_sending: boolean;
  smart_sending_enabled: boolean;
  smart_sending_window_hours: number;
}

function tagsOf(audience: unknown): string[] {
  if (typeof audience !== 'object' || audience === null) return [];
  const tags = (audience as { tags?: unknown }).tags;
  return Array.isArray(tags) ? tags.filter((t): t is string => typeof t === 'string') : [];
}

/**
 * The campaign (scoped to its shop) with the shop's sending settings; null
 * when it does not exist. `forUpdate` also locks the campaign row (not the
 * shop's) until the caller's transaction ends.
 */
export async function loadSendContext(db: DbOrTx, campaignId: string, shopId: string, opts: { forUpdate?: boolean } = {}): Promise<SendContext | null> {
  const rows = await db.$queryRaw<SendContextRow[]>`
    SELECT ${SEND_CONTEXT_COLUMNS}
      FROM campaigns c JOIN shops s ON s.id = c.shop_id
     WHERE c.id = ${campaignId}::uuid AND c.shop_id = ${shopId}::uuid ${opts.forUpdate ? sql`FOR UPDATE OF c` : empty}`;
  return rows[0] ? sendContextOf(rows[0]) : null;
}

export function sendContextOf(r: SendContextRow): SendContext {
  return {
    campaignId: r.id,
    shopId: r.shop_id,
    status: r.status,
    body: r.body,
    audience: r.audience,
    audienceTags: tagsOf(r.audience),
    audienceOrders: orderFiltersOf(r.audience),
    scheduledAt: r.scheduled_at,
    traceId: r.trace_id,
    // The enqueue sized every message (segments_per_message, the reservation)
    // with the name and footer it froze: a rename or the footer switched on
    // since must not lengthen them. Not frozen (a draft, or enqueued before
    // the columns existed): the shop's own. A shop without a stored name is
    // addressed by its store handle.
    shopName: r.shop_name_at_enqueue ?? shopDisplayName(r.shop_name, r.domain),
    senderId: r.sender_id,
    timezone: r.timezone,
    quietStart: r.quiet_hours_start,
    quietEnd: r.quiet_hours_end,
    optOutFooter: r.opt_out_footer_at_enqueue ?? r.opt_out_footer,
    messageBound: r.shop_name_at_enqueue !== null && r.opt_out_footer_at_enqueue !== null ? r.segments_per_message : null,
    linkNo: Number(r.link_no),
    frequencyCap: r.smart_sending_enabled && !r.ignore_smart_sending ? { windowHours: r.smart_sending_window_hours } : null,
  };
}
