import { sql, type DbOrTx } from '../../lib/db';
import { minorToDecimal, minorUnitDigits } from '../orders/money';
import { refundedSql } from '../orders/refunded-sql';

/** What a campaign earned: clicks on its links and the orders attributed to it (domain/orders/attribute-order.ts). */
export interface CampaignPerformance {
  /** Messages that went out: accepted by the provider, delivered or not (the timeseries' `sent`). The base of the rates below. */
  messagesSent: number;
  /** Human clicks (every redirect not recognised as a bot, preview, prefetch or HEAD). */
  clicks: number;
  /** Recipients who clicked at least once. */
  uniqueClicks: number;
  /** Redirects recognised as link previews, crawlers, prefetches or HEAD requests: redirected, never counted as clicks. */
  botClicks: number;
  /** uniqueClicks ÷ messagesSent, 4 decimals; null before any message went out. */
  clickRate: number | null;
  attributedOrders: number;
  /**
   * Per currency: the attributed orders' total net of their successful refunds (each order's at least 0),
   * and that per message sent and per credit debited (decimal text; null when nothing was sent or debited).
   */
  attributedRevenue: { currency: string; orders: number; amount: string; perMessage: string | null; perCredit: string | null }[];
}

interface ClickRow {
  campaign_id: string;
  clicks: bigint;
  unique_clicks: bigint;
  bot_clicks: bigint;
}

interface RevenueRow {
  campaign_id: string;
  currency: string;
  orders: bigint;
  total: bigint;
}

/** For one campaign or a page of them: messages sent and credits debited are the caller's (the stats' counts, the list's figures). */
export async function campaignPerformance(
  db: DbOrTx,
  shopId: string,
  campaigns: { id: string; messages: number; credits: number }[],
): Promise<Map<string, CampaignPerformance>> {
  const ids = campaigns.map((c) => c.id);
  const out = new Map<string, CampaignPerformance>();
  if (ids.length === 0) return out;
  const [clicks, revenue] = await Promise.all([
    // Kept by a trigger as clicks are written: one row per campaign, however many clicks.
    db.$queryRaw<ClickRow[]>`
      SELECT campaign_id, clicks, unique_clicks, bot_clicks
        FROM campaign_click_counts WHERE campaign_id = ANY(${ids}::uuid[]) AND shop_id = ${shopId}::uuid`,
    db.$queryRaw<RevenueRow[]>`
      SELECT a.campaign_id, a.currency, count(*) AS orders, sum(a.total_minor - ${refundedSql(sql`a`)})::bigint AS total
        FROM order_attributions a WHERE a.campaign_id = ANY(${ids}::uuid[]) AND a.shop_id = ${shopId}::uuid GROUP BY 1, 2 ORDER BY 1, 2`,
  ]);
  const clicksBy = new Map(clicks.map((c) => [c.campaign_id, c]));
  for (const c of campaigns) {
    const k = clicksBy.get(c.id);
    const uniq = Number(k?.unique_clicks ?? 0);
    const rows = revenue.filter((r) => r.campaign_id === c.id);
    out.set(c.id, {
      messagesSent: c.messages,
      clicks: Number(k?.clicks ?? 0),
      uniqueClicks: uniq,
      botClicks: Number(k?.bot_clicks ?? 0),
      clickRate: c.messages > 0 ? Math.round((uniq / c.messages) * 10_000) / 10_000 : null,
      attributedOrders: rows.reduce((n, r) => n + Number(r.orders), 0),
      attributedRevenue: rows.map((r) => ({
        currency: r.currency,
        orders: Number(r.orders),
        amount: minorToDecimal(r.total, r.currency),
        perMessage: ratio(r.total, c.messages, r.currency),
        perCredit: ratio(r.total, c.credits, r.currency),
      })),
    });
  }
  return out;
}

/**
 * Minor units ÷ n in major units, two digits past the currency's own (a cent
 * split over many messages is still visible), rounded half up like
 * money.ts. In BigInt: a float quotient is off in the last digit at ties
 * (10.03 ÷ 8 = 1.25375 comes out "1.2537") and loses whole units past 2^53.
 */
export function ratio(totalMinor: bigint, n: number, currency: string): string | null {
  if (!Number.isSafeInteger(n) || n <= 0) return null;
  const digits = minorUnitDigits(currency) + 2;
  const negative = totalMinor < 0n;
  const abs = negative ? -totalMinor : totalMinor;
  const divisor = BigInt(n);
  // ×100 for the two extra digits; (2x + n) ÷ 2n is x ÷ n rounded half up.
  const scaled = (2n * abs * 100n + divisor) / (2n * divisor);
  const text = scaled.toString().padStart(digits + 1, '0');
  const out = `${text.slice(0, -digits)}.${text.slice(-digits)}`;
  return negative && scaled !== 0n ? `-${out}` : out;
}

export const EMPTY_PERFORMANCE: CampaignPerformance = { messagesSent: 0, clicks: 0, uniqueClicks: 0, botClicks: 0, clickRate: null, attributedOrders: 0, attributedRevenue: [] };

/**
 * The performance of a page of campaigns: a lookup of their click counters
 * and their orders, and the messages sent and credits debited of the campaigns that
 * have either (their batches' `sent` counters and their reservations: a
 * thousand batch rows for a million recipients, never the recipients).
 */
export async function pagePerformance(db: DbOrTx, shopId: string, page: { id: string; startedAt: string | null }[]): Promise<Map<string, CampaignPerformance>> {
  const ids = page.map((c) => c.id);
  if (ids.length === 0) return new Map();
  const [active, sent] = await Promise.all([
    db.$queryRaw<{ campaign_id: string }[]>`
      SELECT campaign_id FROM campaign_click_counts WHERE campaign_id = ANY(${ids}::uuid[]) AND shop_id = ${shopId}::uuid
      UNION
      SELECT DISTINCT campaign_id FROM order_attributions WHERE campaign_id = ANY(${ids}::uuid[]) AND shop_id = ${shopId}::uuid`,
    db.$queryRaw<{ campaign_id: string; n: bigint }[]>`
      SELECT campaign_id, sum(sent)::bigint AS n FROM campaign_batches
       WHERE campaign_id = ANY(${ids.filter((_, i) => page[i]!.startedAt !== null)}::uuid[]) GROUP BY 1`,
  ]);
  const messagesBy = new Map(sent.map((m) => [m.campaign_id, Number(m.n)]));
  // Without a click or an order: nothing earned; the rate is 0 once a message went out, null before.
  const idle = (id: string): CampaignPerformance => {
    const messagesSent = messagesBy.get(id) ?? 0;
    return { ...EMPTY_PERFORMANCE, messagesSent, clickRate: messagesSent > 0 ? 0 : null };
  };
  const activeIds = active.map((a) => a.campaign_id);
  if (activeIds.length === 0) return new Map(ids.map((id) => [id, idle(id)]));
  const credits = await db.$queryRaw<{ campaign_id: string; consumed: bigint }[]>`
    SELECT DISTINCT ON (campaign_id) campaign_id, consumed FROM credit_reservations
     WHERE campaign_id = ANY(${activeIds}::uuid[]) AND shop_id = ${shopId}::uuid ORDER BY campaign_id, created_at DESC`;
  const creditsBy = new Map(credits.map((c) => [c.campaign_id, Number(c.consumed)]));
  const perf = await campaignPerformance(
    db,
    shopId,
    activeIds.map((id) => ({ id, messages: messagesBy.get(id) ?? 0, credits: creditsBy.get(id) ?? 0 })),
  );
  return new Map(ids.map((id) => [id, perf.get(id) ?? idle(id)]));
}
