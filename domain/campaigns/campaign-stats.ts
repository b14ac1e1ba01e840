import type { DbOrTx } from '../../lib/db';
import type { ScanThrottle } from '../../lib/scan-throttle';
import { campaignPerformance, EMPTY_PERFORMANCE, type CampaignPerformance } from './campaign-performance';
import { countRecipients, RECIPIENT_STATUSES, type RecipientStatus, type RecipientTotals } from './count-recipients';
import { getCampaignWithFrozen } from './get-campaign';
import type { CampaignStatus } from './send-context';

const LIVE = new Set<CampaignStatus>(['queued', 'sending']);

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
  /** Of `skipped`, those whose quiet hours (the shop's window in their zone, the US/CA floor) left no instant to send within 8 days (error_code quiet_hours). */
  skippedQuietHours: number;
  /** Of `pending`, those waiting for their quiet hours to end (in a batch deferred to its `not_before`). */
  deferred: number;
  /** While the campaign sends: the earliest instant a deferred batch is due again (its `not_before`); null when none waits. */
  deferredUntil: string | null;
} & Record<RecipientStatus, number> &
  CampaignPerformance;

/**
 * One GROUP BY over the campaign's recipients (count-recipients.ts; kept and
 * shared for a while for a large campaign when `scans` is given:
 * lib/scan-throttle.ts) plus its reservation row (the latest, active or
 * closed). A campaign past the recipient retention answers from the totals
 * frozen before its rows were deleted (freeze-campaign-recipients.ts).
 * Clicks and attributed revenue come from campaign-performance.ts.
 */
export async function campaignStats(db: DbOrTx, shopId: string, campaignId: string, o: { scans?: ScanThrottle } = {}): Promise<CampaignStats> {
  // Read fresh on every call: who may see it, and its status.
  const campaign = await getCampaignWithFrozen(db, shopId, campaignId);
  const recipientTotals = async (): Promise<RecipientTotals> => {
    if (campaign.recipient_totals) return campaign.recipient_totals;
    return o.scans ? o.scans.read(`stats:${shopId}:${campaignId}`, () => countRecipients(db, campaignId)) : (await countRecipients(db, campaignId)).value;
  };
  const [totals, reservations, waiting] = await Promise.all([
    recipientTotals(),
    db.$queryRaw<{ amount: bigint; consumed: bigint; released: bigint }[]>`
      SELECT amount, consumed, released FROM credit_reservations
       WHERE campaign_id = ${campaignId}::uuid AND shop_id = ${shopId}::uuid ORDER BY created_at DESC LIMIT 1`,
    // Read fresh, not from a kept scan: a merchant sending at 06:00 in New
    // York sees why nothing moves, and until when (≤ 1 000 batch rows).
    LIVE.has(campaign.status)
      ? db.$queryRaw<{ until: Date | null }[]>`
          SELECT min(not_before) AS until FROM campaign_batches
           WHERE campaign_id = ${campaignId}::uuid AND status = 'pending' AND claim_token IS NULL AND not_before IS NOT NULL`
      : Promise.resolve([]),
  ]);
  const counts = Object.fromEntries(RECIPIENT_STATUSES.map((s) => [s, totals[s]])) as Record<RecipientStatus, number>;
  const r = reservations[0];
  // Messages: the rows with a sent_at (the list reads the batches' counters of the same rows).
  const performance = await campaignPerformance(db, shopId, [{ id: campaignId, messages: totals.messages, credits: Number(r?.consumed ?? 0) }]);
  return {
    status: campaign.status,
    total: RECIPIENT_STATUSES.reduce((sum, s) => sum + counts[s], 0),
    ...counts,
    creditsReserved: Number(r?.amount ?? 0),
    creditsDebited: Number(r?.consumed ?? 0),
    creditsReleased: Number(r?.released ?? 0),
    startedAt: campaign.started_at?.toISOString() ?? null,
    completedAt: campaign.completed_at?.toISOString() ?? null,
    skippedFrequencyCap: totals.skippedFrequencyCap,
    // Totals frozen before quiet_hours skips existed lack the key: there were none then.
    skippedQuietHours: totals.skippedQuietHours ?? 0,
    deferred: totals.deferred,
    deferredUntil: waiting[0]?.until?.toISOString() ?? null,
    ...(performance.get(campaignId) ?? EMPTY_PERFORMANCE),
  };
}
