import type { DbOrTx } from '../../lib/db';
import { recipientStatusSql } from '../campaigns/batch-rows';

export interface CampaignInspection {
  campaign: {
    id: string;
    shopId: string;
    shopDomain: string;
    status: string;
    totalRecipients: number;
    segmentsPerMessage: number | null;
    traceId: string | null;
    scheduledAt: Date | null;
    startedAt: Date | null;
    completedAt: Date | null;
    cancelledAt: Date | null;
    lastActivityAt: Date;
    /** When its recipient rows were deleted past the retention (campaigns/prune-campaign-recipients.ts); null while kept. */
    recipientsPrunedAt: Date | null;
  };
  /** Counts by status: from the totals frozen before pruning once `recipientsFrozen`, the rows being (or gone) deleted. */
  recipients: Record<string, number>;
  recipientsFrozen: boolean;
  staleLeases: number;
  batches: { total: number; pending: number; done: number; pendingBatchNos: number[] };
  reservation: { id: string; status: string; amount: number; consumed: number; released: number } | null;
  debited: number;
  outbox: { eventType: string; published: boolean; createdAt: Date }[];
}

/** Everything on-call needs to judge one campaign, across shops (read-only). */
export async function inspectCampaign(db: DbOrTx, campaignId: string, now: Date): Promise<CampaignInspection | null> {
  const [c] = await db.$queryRaw<{
    id: string; shop_id: string; domain: string; status: string; total_recipients: number; segments_per_message: number | null; trace_id: string | null;
    scheduled_at: Date | null; started_at: Date | null; completed_at: Date | null; cancelled_at: Date | null; last_activity_at: Date;
    recipients_pruned_at: Date | null; recipient_totals: Record<string, number> | null;
  }[]>`
    SELECT c.id, c.shop_id, s.domain, c.status, c.total_recipients, c.segments_per_message, c.trace_id,
           c.scheduled_at, c.started_at, c.completed_at, c.cancelled_at, c.last_activity_at, c.recipients_pruned_at, c.recipient_totals
      FROM campaigns c JOIN shops s ON s.id = c.shop_id WHERE c.id = ${campaignId}::uuid`;
  if (!c) return null;
  const counts = await db.$queryRaw<{ status: string; n: bigint }[]>`
    SELECT ${recipientStatusSql('r', 'b')} AS status, count(*) AS n
      FROM campaign_recipients r LEFT JOIN campaign_batches b ON b.campaign_id = r.campaign_id AND b.batch_no = r.batch_no
     WHERE r.campaign_id = ${campaignId}::uuid GROUP BY 1`;
  const recipients: Record<string, number> = { pending: 0, sending: 0, sent: 0, delivered: 0, failed: 0, skipped: 0, cancelled: 0, unknown: 0 };
  for (const r of counts) recipients[r.status] = Number(r.n);
  // Frozen: the rows are going or gone; what they held is on the campaign.
  if (c.recipient_totals) for (const s of Object.keys(recipients)) recipients[s] = c.recipient_totals[s] ?? 0;
  // In flight under a claim that has run out: the batch's, or a row's own.
  const [stale] = await db.$queryRaw<{ n: bigint }[]>`
    SELECT count(*) AS n
      FROM campaign_batches b JOIN campaign_recipients r ON r.campaign_id = b.campaign_id AND r.batch_no = b.batch_no
     WHERE b.campaign_id = ${campaignId}::uuid AND b.status = 'pending'
       AND ((r.status = 'pending' AND b.claim_token IS NOT NULL AND b.lease_until < ${now})
            OR (r.status = 'sending' AND r.lease_until < ${now}))`;
  const batchRows = await db.$queryRaw<{ batch_no: number; status: string }[]>`
    SELECT batch_no, status FROM campaign_batches WHERE campaign_id = ${campaignId}::uuid ORDER BY batch_no`;
  const pendingBatchNos = batchRows.filter((b) => b.status === 'pending').map((b) => b.batch_no);
  const [res] = await db.$queryRaw<{ id: string; status: string; amount: bigint; consumed: bigint; released: bigint }[]>`
    SELECT id, status, amount, consumed, released FROM credit_reservations WHERE campaign_id = ${campaignId}::uuid ORDER BY created_at DESC LIMIT 1`;
  const [debit] = await db.$queryRaw<{ total: bigint | null }[]>`
    SELECT -sum(amount) AS total FROM credit_transactions WHERE shop_id = ${c.shop_id}::uuid AND type = 'debit' AND idempotency_key LIKE ${`debit-${campaignId}-%`}`;
  const outbox = await db.$queryRaw<{ event_type: string; published: boolean; created_at: Date }[]>`
    SELECT event_type, published_at IS NOT NULL AS published, created_at FROM outbox_events WHERE aggregate_id = ${campaignId} ORDER BY id`;
  return {
    campaign: {
      id: c.id, shopId: c.shop_id, shopDomain: c.domain, status: c.status, totalRecipients: c.total_recipients,
      segmentsPerMessage: c.segments_per_message, traceId: c.trace_id, scheduledAt: c.scheduled_at, startedAt: c.started_at,
      completedAt: c.completed_at, cancelledAt: c.cancelled_at, lastActivityAt: c.last_activity_at, recipientsPrunedAt: c.recipients_pruned_at,
    },
    recipients,
    recipientsFrozen: c.recipient_totals !== null,
    staleLeases: Number(stale?.n ?? 0),
    batches: { total: batchRows.length, pending: pendingBatchNos.length, done: batchRows.length - pendingBatchNos.length, pendingBatchNos: pendingBatchNos.slice(0, 50) },
    reservation: res ? { id: res.id, status: res.status, amount: Number(res.amount), consumed: Number(res.consumed), released: Number(res.released) } : null,
    debited: Number(debit?.total ?? 0),
    outbox: outbox.map((o) => ({ eventType: o.event_type, published: o.published, createdAt: o.created_at })),
  };
}
