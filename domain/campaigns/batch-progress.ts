import type { DbOrTx } from '../../lib/db';
import { batchHasOpenRowsSql } from './batch-rows';

/** When the earliest live claim in a batch runs out (the batch's, or a row's own), or null if it has none. */
export async function nextLeaseExpiry(db: DbOrTx, c: { campaignId: string; batchNo: number; now: Date }): Promise<Date | null> {
  const [row] = await db.$queryRaw<{ until: Date | null }[]>`
    SELECT LEAST(
             CASE WHEN b.claim_token IS NOT NULL AND b.lease_until > ${c.now} THEN b.lease_until END,
             (SELECT min(r.lease_until) FROM campaign_recipients r
               WHERE r.campaign_id = b.campaign_id AND r.batch_no = b.batch_no AND r.status = 'sending' AND r.lease_until > ${c.now})) AS until
      FROM campaign_batches b
     WHERE b.campaign_id = ${c.campaignId}::uuid AND b.batch_no = ${c.batchNo}::int`;
  return row?.until ?? null;
}

/** Marks the batch done once it has no pending or sending recipient. Returns true if this call did it. */
export async function markBatchDoneIfFinished(db: DbOrTx, c: { campaignId: string; batchNo: number; now: Date }): Promise<boolean> {
  const n = await db.$executeRaw`
    UPDATE campaign_batches b SET status = 'done', updated_at = ${c.now}
     WHERE b.campaign_id = ${c.campaignId}::uuid AND b.batch_no = ${c.batchNo}::int AND b.status = 'pending'
       AND NOT ${batchHasOpenRowsSql('b')}`;
  return n === 1;
}
