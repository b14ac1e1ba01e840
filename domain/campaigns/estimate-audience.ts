import { raw, type DbOrTx } from '../../lib/db';
import { DEV_TRACKED_LINKS, sampleShortLink } from '../links/link-code';
import { isGsm7 } from '../messaging/segments';
import { maxRenderedLengthParts, upperBoundSegmentsFor, type ParsedTemplate } from '../messaging/template';
import { audienceWhere, type OrderFilters } from './audience';
import { parsedBody } from './parsed-body';

export interface AudienceEstimate {
  /** Sendable contacts matching the audience now. */
  recipients: number;
  /** A safe upper bound on any one recipient's segments. */
  segmentsPerMessage: number;
  /** recipients × segmentsPerMessage: what enqueue reserves. */
  credits: number;
}

/**
 * Sizes a campaign without rendering a single message and without scanning
 * the audience: the figures come from `audience_stats` (kept by triggers on
 * contacts, one row per shop and tag) — the count, the longest first and last
 * name and whether any holds a non-GSM character — and upperBoundSegmentsFor
 * turns them into a per-message bound that no recipient's rendered message
 * (footer included) can exceed. So enqueue costs the same for a thousand
 * contacts as for a million. Only an audience of several tags, or one with
 * order filters, needs a count of its own: one indexed pass over the shop's
 * sendable contacts (contacts_order_summary_idx), linear in their number.
 */
export async function estimateAudience(db: DbOrTx, c: EstimateInput): Promise<AudienceEstimate> {
  const keys = audienceStatKeys(c.tags);
  const [agg] = await db.$queryRaw<AudienceStats[]>`SELECT ${AUDIENCE_STATS_COLUMNS} FROM audience_stats WHERE shop_id = ${c.shopId}::uuid AND tag = ANY(${keys}::text[])`;
  return estimateFromStats(db, agg, c);
}

interface EstimateInput {
  shopId: string;
  body: string;
  tags: string[];
  /** The audience's order filters: with them the count is exact (one pass over the shop's sendable contacts). */
  orders: OrderFilters | null;
  shopName: string;
  optOutFooter: boolean;
  /** PUBLIC_LINK_BASE: each link of the body costs one short link on it (the development base when absent). */
  linkBase?: string;
}

/** The aggregate over the audience's `audience_stats` rows that an estimate needs. */
export interface AudienceStats {
  n: bigint | null;
  first_len: number | null;
  last_len: number | null;
  first_unicode: boolean | null;
  last_unicode: boolean | null;
}

/** Aggregates of audience_stats (alias-free) giving AudienceStats. */
export const AUDIENCE_STATS_COLUMNS = raw(`sum(contacts)::bigint AS n, max(max_first_name_length) AS first_len, max(max_last_name_length) AS last_len,
  bool_or(non_gsm_first_names > 0) AS first_unicode, bool_or(non_gsm_last_names > 0) AS last_unicode`);

/** The audience_stats rows (by tag) an audience of these tags reads: '' is the row of every sendable contact. */
export function audienceStatKeys(tags: string[]): string[] {
  return tags.length === 0 ? [''] : [...new Set(tags)];
}

/** The estimate from stats already read (by estimateAudience, or by a caller reading them along with other rows). */
export async function estimateFromStats(db: DbOrTx, agg: AudienceStats | undefined, c: EstimateInput): Promise<AudienceEstimate> {
  const template = parsedBody(c.body);
  const keys = audienceStatKeys(c.tags);
  let recipients = Math.max(0, Number(agg?.n ?? 0));
  if (keys.length > 1 || c.orders !== null) {
    // Several tags (a contact may carry more than one) or order filters
    // (audience_stats keeps no order figures): counted with the very predicate
    // launch selects with. The name bounds stay those of the tags' stats,
    // which cover every contact an order could bring into the audience before
    // launch (they only ever grow), so the reservation stays a safe bound.
    const [exact] = await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM contacts a WHERE ${audienceWhere('a', c.shopId, c.tags, c.orders)}`;
    recipients = Number(exact?.n ?? 0);
  }
  const segmentsPerMessage = segmentsPerMessageFor(template, agg, c);
  return { recipients, segmentsPerMessage, credits: recipients * segmentsPerMessage };
}

/**
 * The per-message bound (at least 1) that the audience's stats give: no
 * message to a contact those stats count, rendered with this shop name and
 * footer setting, has more segments. The stats' longest names only ever
 * grow, so a bound computed later covers every contact an earlier one did
 * and every one who joined or was renamed since (the launch recomputes it
 * per chunk for that reason).
 */
export function segmentsPerMessageFor(
  template: ParsedTemplate,
  agg: Omit<AudienceStats, 'n'> | undefined,
  c: Pick<EstimateInput, 'shopName' | 'optOutFooter' | 'linkBase'>,
): number {
  const shortLink = sampleShortLink(c.linkBase ?? DEV_TRACKED_LINKS.base);
  const used = new Set(maxRenderedLengthParts(template, shortLink).placeholders.map((p) => p.name));
  const anyUnicode =
    (used.has('firstName') && agg?.first_unicode === true) ||
    (used.has('lastName') && agg?.last_unicode === true) ||
    (used.has('shopName') && !isGsm7(c.shopName));
  const bound = upperBoundSegmentsFor(
    template,
    { firstName: agg?.first_len ?? 0, lastName: agg?.last_len ?? 0, shopName: c.shopName },
    anyUnicode,
    c.optOutFooter,
    shortLink,
  );
  return Math.max(1, bound);
}
