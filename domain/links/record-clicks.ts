import { sql, type Db, type Tx } from '../../lib/db';
import { notOfDeletedFlowSql } from '../flows/deleted-flow-sql';
import { isUniqueViolation } from '../../lib/pg-errors';
import { lockContactsForAttribution } from '../orders/attribution-lock';
import { refundedSql } from '../orders/refunded-sql';
import type { UaClass } from './user-agent-class';

/** One answered redirect, as the api buffered it. */
export interface ClickRecord {
  /** Made when the request was answered: a retried flush inserts nothing twice. */
  id: string;
  /** The campaign of a campaign link; null for a flow message's. */
  campaignId: string | null;
  /** The campaign recipient's id, or the flow message's. */
  recipientId: number;
  /** A flow message's link: the version whose link number the code carried and the step it named (absent for a campaign's). */
  flow?: { versionId: string; step: number } | null;
  linkIndex: number;
  clickedAt: Date;
  uaClass: UaClass;
  bot: boolean;
}

export interface RecordedClicks {
  human: number;
  bot: number;
  /** Orders placed after one of these clicks and not yet attributed (the click was flushed after the order arrived). */
  attributed: { kind: 'click'; campaignId: string | null; flowId: string | null; totalMinor: bigint; refundedMinor: bigint; currency: string }[];
}

interface Row {
  bot: boolean;
  contact_id: string | null;
}

interface AttributedRow {
  campaign_id: string | null;
  flow_id: string | null;
  total_minor: bigint;
  refunded_minor: bigint;
  currency: string;
}

/**
 * Inserts a batch of clicks: one statement for campaign clicks, one for flow
 * clicks (only when the batch holds any). Only a click naming a recipient of
 * that very campaign, or a flow message of that very version and step, is
 * kept (the code's signature already says so; the join keeps a leaked key
 * from writing across shops), with the recipient's or message's contact and
 * shop. A recipient's or flow message's first human click is flagged `first`;
 * a unique partial index makes that true once even when two api processes
 * flush the same one at once (the loser's whole batch fails with a unique
 * violation and is simply run again, when it sees the winner's row). Then,
 * in the same transaction, orders of those contacts placed after a click and
 * within the shop's click window, not cancelled nor test orders, that nothing claimed yet are attributed to
 * its campaign or flow message: a late click counts like a timely one (under
 * the per-contact lock orders take too: attribution-lock.ts).
 */
export async function recordClicks(db: Db, clicks: ClickRecord[]): Promise<RecordedClicks> {
  if (clicks.length === 0) return { human: 0, bot: 0, attributed: [] };
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.$transaction(async (tx) => {
        const campaignClicks = clicks.filter((c) => !c.flow);
        const flowClicks = clicks.filter((c) => c.flow);
        const rows = [...(campaignClicks.length > 0 ? await insertCampaignClicks(tx, campaignClicks) : []), ...(flowClicks.length > 0 ? await insertFlowClicks(tx, flowClicks) : [])];
        const human = rows.filter((r) => !r.bot).length;
        const contacts = [...new Set(rows.flatMap((r) => (!r.bot && r.contact_id !== null ? [r.contact_id] : [])))];
        if (contacts.length > 0) await lockContactsForAttribution(tx, contacts);
        const attributed =
          contacts.length === 0
            ? []
            : await tx.$queryRaw<AttributedRow[]>`
          WITH k AS (
            SELECT id, shop_id, contact_id, campaign_id, flow_id, flow_message_id, clicked_at FROM link_clicks
             WHERE id = ANY(${clicks.filter((c) => !c.bot).map((c) => c.id)}::uuid[]) AND NOT bot AND contact_id IS NOT NULL
          ), pick AS (
            SELECT DISTINCT ON (o.shop_id, o.order_id) o.shop_id, o.order_id, o.contact_id, o.total_minor, o.currency, o.ordered_at, k.campaign_id, k.flow_id, k.flow_message_id, k.id AS click_id
              FROM k JOIN shops s ON s.id = k.shop_id
                     JOIN shopify_orders o ON o.contact_id = k.contact_id AND o.shop_id = k.shop_id
             WHERE o.ordered_at >= k.clicked_at AND o.ordered_at < k.clicked_at + make_interval(hours => s.click_window_hours)
               AND o.cancelled_at IS NULL AND NOT o.test
               AND ${notOfDeletedFlowSql(sql`k.flow_id`)}
               AND NOT EXISTS (SELECT 1 FROM order_attributions a WHERE a.shop_id = o.shop_id AND a.order_id = o.order_id)
             ORDER BY o.shop_id, o.order_id, k.clicked_at DESC
          )
          INSERT INTO order_attributions (shop_id, order_id, campaign_id, flow_id, flow_message_id, contact_id, kind, source, click_id, total_minor, currency, ordered_at)
          SELECT shop_id, order_id, campaign_id, flow_id, flow_message_id, contact_id, 'click', 'order', click_id, total_minor, currency, ordered_at FROM pick
          ON CONFLICT (shop_id, order_id) DO NOTHING
          RETURNING campaign_id, flow_id, total_minor, ${refundedSql(sql`order_attributions`)} AS refunded_minor, currency`;
        return {
          human,
          bot: rows.length - human,
          attributed: attributed.map((a) => ({ kind: 'click' as const, campaignId: a.campaign_id, flowId: a.flow_id, totalMinor: a.total_minor, refundedMinor: a.refunded_minor, currency: a.currency })),
        };
      });
    } catch (err) {
      // Another flush recorded a first click of one of these recipients in the meantime.
      if (isUniqueViolation(err) && attempt < 3) continue;
      throw err;
    }
  }
}

function insertCampaignClicks(tx: Tx, clicks: ClickRecord[]): Promise<Row[]> {
  return tx.$queryRaw<Row[]>`
          WITH b AS (
            SELECT * FROM unnest(${clicks.map((c) => c.id)}::uuid[], ${clicks.map((c) => c.campaignId)}::uuid[],
                                 ${clicks.map((c) => String(c.recipientId))}::bigint[], ${clicks.map((c) => c.linkIndex)}::int[],
                                 ${clicks.map((c) => c.clickedAt.toISOString())}::timestamptz[], ${clicks.map((c) => c.uaClass)}::text[],
                                 ${clicks.map((c) => c.bot)}::boolean[])
              AS b(id, campaign_id, recipient_id, link_index, clicked_at, ua_class, bot)
          ), v AS (
            SELECT b.*, r.contact_id, c.shop_id
              FROM b JOIN campaign_recipients r ON r.id = b.recipient_id AND r.campaign_id = b.campaign_id
                     JOIN campaigns c ON c.id = b.campaign_id
             WHERE NOT EXISTS (SELECT 1 FROM link_clicks k WHERE k.id = b.id)
          ), ranked AS (
            SELECT v.*, (NOT v.bot
                         AND row_number() OVER (PARTITION BY v.recipient_id ORDER BY v.bot, v.clicked_at, v.id) = 1
                         AND NOT EXISTS (SELECT 1 FROM link_clicks f WHERE f.recipient_id = v.recipient_id AND f.first)) AS first
              FROM v
          )
          INSERT INTO link_clicks (id, shop_id, campaign_id, recipient_id, contact_id, link_index, clicked_at, ua_class, bot, first)
          SELECT id, shop_id, campaign_id, recipient_id, contact_id, link_index, clicked_at, ua_class, bot, first FROM ranked
          ON CONFLICT (id) DO NOTHING
          RETURNING bot, contact_id`;
}

/** Flow clicks: the message must be of the version the code's link number named, at the step the code named. */
function insertFlowClicks(tx: Tx, clicks: ClickRecord[]): Promise<Row[]> {
  return tx.$queryRaw<Row[]>`
          WITH b AS (
            SELECT * FROM unnest(${clicks.map((c) => c.id)}::uuid[], ${clicks.map((c) => c.flow?.versionId ?? null)}::uuid[],
                                 ${clicks.map((c) => String(c.recipientId))}::bigint[], ${clicks.map((c) => c.flow?.step ?? -1)}::int[],
                                 ${clicks.map((c) => c.linkIndex)}::int[],
                                 ${clicks.map((c) => c.clickedAt.toISOString())}::timestamptz[], ${clicks.map((c) => c.uaClass)}::text[],
                                 ${clicks.map((c) => c.bot)}::boolean[])
              AS b(id, version_id, message_id, step, link_index, clicked_at, ua_class, bot)
          ), v AS (
            SELECT b.*, m.flow_id, m.contact_id, m.shop_id
              FROM b JOIN flow_messages m ON m.id = b.message_id AND m.version_id = b.version_id AND m.step = b.step
             WHERE NOT EXISTS (SELECT 1 FROM link_clicks k WHERE k.id = b.id)
               -- A deleted flow's link still redirects; its click is not recorded (its history is being erased).
               AND ${notOfDeletedFlowSql(sql`m.flow_id`)}
          ), ranked AS (
            SELECT v.*, (NOT v.bot
                         AND row_number() OVER (PARTITION BY v.message_id ORDER BY v.bot, v.clicked_at, v.id) = 1
                         AND NOT EXISTS (SELECT 1 FROM link_clicks f WHERE f.flow_message_id = v.message_id AND f.first)) AS first
              FROM v
          )
          INSERT INTO link_clicks (id, shop_id, flow_id, flow_message_id, step, contact_id, link_index, clicked_at, ua_class, bot, first)
          SELECT id, shop_id, flow_id, message_id, step, contact_id, link_index, clicked_at, ua_class, bot, first FROM ranked
          ON CONFLICT (id) DO NOTHING
          RETURNING bot, contact_id`;
}
