import type { DbOrTx } from '../../lib/db';
import type { ScanThrottle } from '../../lib/scan-throttle';
import { recipientStatusSql } from './batch-rows';
import { campaignPerformance, EMPTY_PERFORMANCE, type CampaignPerformance } from './campaign-performance';
import { getCampaignRow } from './get-campaign';
import type { CampaignStatus } from './send-context';

const RECIPIENT_STATUSES = ['pending', 'sending', 'sent', 'delivered', 'failed', 'skipped', 'cancelled', 'unknown'] as const;
type RecipientStatus = (typeof RECIPIENT_STATUSES)[number];

export type CampaignStats = {
  status: CampaignStatus;
  /** Recipients materialised by the launch (0 before it runs); the sum of the per-status counts. */
  total: number;
  creditsReserved: number;
  creditsDebited: number;
  creditsReleased: number;
  startedAt: string | null;
  completedAt: string | null;
  /** Of `skipped`, those smart sending held back (error_code frequency_cap). */
  skippedFrequencyCap: number;
  /** Of `pending`, those waiting for their quiet hours to end (in a batch deferred to its `not_before`). */
  deferred: number;
} & Record<RecipientStatus, number> &
  CampaignPerformance;

type StatusGroup = { status: RecipientStatus; n: bigint; capped: bigint; deferred: bigint; gone: bigint };

/**
 * One GROUP BY over the campaign's recipients (kept and shared for a while
 * for a large campaign when `scans` is given: lib/scan-throttle.ts) plus its reservation row (the
 * latest, active or closed). `sending` counts what is in flight: the pending
 * rows of claimed batches too (a claim is the batch's, not written to rows).
 * Clicks and attributed revenue come from campaign-performance.ts.
 */
export async function campaignStats(db: DbOrTx, shopId: string, campaignId: string, o: { scans?: ScanThrottle } = {}): Promise<CampaignStats> {
  // Read fresh on every call: who may see it, and its status.
  const campaign = await getCampaignRow(db, shopId, campaignId);
  const countRecipients = async () => {
    const groups = await db.$queryRaw<StatusGroup[]>`
      SELECT ${recipientStatusSql('r', 'b')} AS status, count(*) AS n,
             count(*) FILTER (WHERE r.sent_at IS NOT NULL) AS gone,
             count(*) FILTER (WHERE r.status = 'skipped' AND r.error_code = 'frequency_cap') AS capped,
             count(*) FILTER (WHERE r.status = 'pending' AND b.claim_token IS NULL AND b.not_before IS NOT NULL) AS deferred
        FROM campaign_recipients r
        LEFT JOIN campaign_batches b ON b.campaign_id = r.campaign_id AND b.batch_no = r.batch_no
       WHERE r.campaign_id = ${campaignId}::uuid GROUP BY 1`;
    return { value: groups, rows: groups.reduce((sum, g) => sum + Number(g.n), 0) };
  };
  const [groups, reservations] = await Promise.all([
    o.scans ? o.scans.read(`stats:${shopId}:${campaignId}`, countRecipients) : countRecipients().then((r) => r.value),
    db.$queryRaw<{ amount: bigint; consumed: bigint; released: bigint }[]>`
      SELECT amount, consumed, released FROM credit_reservations
       WHERE campaign_id = ${campaignId}::uuid AND shop_id = ${shopId}::uuid ORDER BY created_at DESC LIMIT 1`,
  ]);
  const counts = Object.fromEntries(RECIPIENT_STATUSES.map((s) => [s, 0])) as Record<RecipientStatus, number>;
  let skippedFrequencyCap = 0;
  let deferred = 0;
  // What went out, delivered or not: the rows with a sent_at (the list reads the batches' counters of the same rows).
  let messages = 0;
  for (const g of groups) {
    messages += Number(g.gone);
    counts[g.status] = Number(g.n);
    skippedFrequencyCap += Number(g.capped);
    deferred += Number(g.deferred);
  }
  const r = reservations[0];
  const performance = await campaignPerformance(db, shopId, [{ id: campaignId, messages, credits: Number(r?.consumed ?? 0) }]);
  return {
    status: campaign.status,
    total: RECIPIENT_STATUSES.reduce((sum, s) => sum + counts[s], 0),
    ...counts,
    creditsReserved: Number(r?.amount ?? 0),
    creditsDebited: Number(r?.consumed ?? 0),
    creditsReleased: Number(r?.released ?? 0),
    startedAt: campaign.started_at?.toISOString() ?? null,
    completedAt: campaign.completed_at?.toISOString() ?? null,
    skippedFrequencyCap,
    deferred,
    ...(performance.get(campaignId) ?? EMPTY_PERFORMANCE),
  };
}
