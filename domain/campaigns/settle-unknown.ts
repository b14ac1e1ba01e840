import type { Logger } from 'pino';
import type { Tx } from '../../lib/db';
import { debitCampaignSegments } from './debit-segments';

// An `unknown` recipient (the provider may have sent it; it was never re-sent
// and never charged) moves forward exactly once: to `delivered`/`failed` by a
// delivery report, or to `sent`/`failed` by the on-call. Proven sent means
// charged, once, for the segments the send recorded on the row.

export type UnknownResolution = 'delivered' | 'failed' | 'sent';

export interface UnknownSettlement {
  /** recipient id (bigint as string). */
  id: string;
  status: UnknownResolution;
  /** The provider's message id, when the resolution names one. */
  providerMessageId: string | null;
  /** For `failed`: why. */
  errorCode: string | null;
}

export interface SettledUnknown {
  id: string;
  campaignId: string;
  shopId: string;
  status: UnknownResolution;
  providerMessageId: string | null;
  segments: number | null;
}

export interface UnknownSettleResult {
  moved: SettledUnknown[];
  /** Credits charged for the rows moved to delivered/sent. */
  charged: number;
  /** Credits the wallet could not cover (logged as an error). */
  shortfall: number;
}

/**
 * Moves the given `unknown` recipients forward and charges the ones proven
 * sent, in the caller's transaction. Guarded in Postgres: only a row still
 * `unknown` and never charged (`sent_at IS NULL`) moves, so a replayed report,
 * a second report, a concurrent on-call run or a report racing the on-call
 * moves and charges each row once; the row must carry the report's provider
 * id or none yet. A `delivered`/`sent` row needs its recorded segments (rows
 * recorded before segments were kept on unknown rows cannot be charged and
 * are left alone). The charge per campaign is one ledger row under
 * `debit-<campaignId>-unknown-<lowest recipient id moved>`: that row moved
 * here, so the key cannot recur. Locks: recipients, then wallets in shop-id
 * order, then reservations, the order every other credit path keeps.
 */
export async function settleUnknownRecipients(tx: Tx, items: UnknownSettlement[], o: { logger?: Logger; traceId?: string | null } = {}): Promise<UnknownSettleResult> {
  const result: UnknownSettleResult = { moved: [], charged: 0, shortfall: 0 };
  if (items.length === 0) return result;
  // Rows by key: `unknown` is rare, and a planner expecting one such row would scan for them and match every input against each.
  const rows = await tx.$queryRaw<{ id: bigint; campaign_id: string; batch_no: number; shop_id: string; status: UnknownResolution; pmid: string | null; segments: number | null }[]>`
    UPDATE campaign_recipients r
       SET status = u.status,
           final_at = CASE WHEN u.status = 'sent' THEN r.final_at ELSE now() END,
           error_code = CASE WHEN u.status = 'failed' THEN u.code END,
           provider_message_id = COALESCE(u.pmid, r.provider_message_id),
           sent_at = CASE WHEN u.status = 'failed' THEN r.sent_at ELSE now() END
      FROM unnest(${items.map((i) => i.id)}::bigint[], ${items.map((i) => i.status)}::text[], ${items.map((i) => i.providerMessageId)}::text[], ${items.map((i) => i.errorCode)}::text[])
             AS u(id, status, pmid, code),
           campaigns c
     WHERE r.id = ANY(${items.map((i) => i.id)}::bigint[]) AND r.id = u.id AND r.status = 'unknown' AND r.sent_at IS NULL
       AND (u.pmid IS NULL OR r.provider_message_id IS NULL OR r.provider_message_id = u.pmid)
       AND (u.status = 'failed' OR r.segments IS NOT NULL)
       AND c.id = r.campaign_id
    RETURNING r.id, r.campaign_id, r.batch_no, c.shop_id, r.status, r.provider_message_id AS pmid, r.segments`;
  // Proven sent: the batch counts it as gone out (the list's base for rates).
  // Before the debit, so the lock order stays recipients, batches, wallets.
  const gone = new Map<string, { campaignId: string; batchNo: number; n: number }>();
  for (const r of rows) {
    if (r.status === 'failed') continue;
    const k = `${r.campaign_id}|${r.batch_no}`;
    const g = gone.get(k);
    if (g) g.n += 1;
    else gone.set(k, { campaignId: r.campaign_id, batchNo: r.batch_no, n: 1 });
  }
  if (gone.size > 0) {
    const g = [...gone.values()];
    await tx.$executeRaw`
      UPDATE campaign_batches b SET sent = b.sent + x.n
        FROM unnest(${g.map((x) => x.campaignId)}::uuid[], ${g.map((x) => x.batchNo)}::int[], ${g.map((x) => x.n)}::int[]) AS x(campaign_id, batch_no, n)
       WHERE b.campaign_id = x.campaign_id AND b.batch_no = x.batch_no`;
  }
  result.moved = rows.map((r) => ({ id: String(r.id), campaignId: r.campaign_id, shopId: r.shop_id, status: r.status, providerMessageId: r.pmid, segments: r.segments }));

  const owed = new Map<string, { shopId: string; campaignId: string; total: number; lowest: bigint }>();
  for (const r of rows) {
    if (r.status === 'failed' || r.segments === null) continue;
    const g = owed.get(r.campaign_id) ?? { shopId: r.shop_id, campaignId: r.campaign_id, total: 0, lowest: r.id };
    g.total += r.segments;
    if (r.id < g.lowest) g.lowest = r.id;
    owed.set(r.campaign_id, g);
  }
  const groups = [...owed.values()].sort((a, b) => (a.shopId < b.shopId ? -1 : a.shopId > b.shopId ? 1 : 0));
  for (const g of groups) {
    const { charge } = await debitCampaignSegments(tx, { shopId: g.shopId, campaignId: g.campaignId, total: g.total, key: `debit-${g.campaignId}-unknown-${g.lowest}`, traceId: o.traceId });
    result.charged += charge;
    if (charge < g.total) {
      result.shortfall += g.total - charge;
      o.logger?.error({ campaignId: g.campaignId, segments: g.total, charged: charge, shortfall: g.total - charge }, 'charge for unknown messages proven sent exceeds the wallet: charged what it could cover');
    }
  }
  return result;
}
