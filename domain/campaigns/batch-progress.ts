import type { DbOrTx } from '../../lib/db';

/** When the earliest live claim in a batch runs out, or null if it has none. */
export async function nextLeaseExpiry(db: DbOrTx, c: { campaignId: string; batchNo: number; now: Date }): Promise<Date | null> {
  const [row] = await db.$queryRaw<{ until: Date | null }[]>`
    SELECT min(lease_until) AS until FROM campaign_recipients
     WHERE campaign_id = ${c.campaignId}::uuid AND batch_no = ${c.batchNo}::int AND status = 'sending' AND lease_until > ${c.now}`;
  return row?.until ?? null;
}

/** Marks the batch done once it has no pending or sending recipient. Returns true if this call did it. */
export async function markBatchDoneIfFinished(db: DbOrTx, c: { campaignId: string; batchNo: number; now: Date }): Promise<boolean> {
  const n = await db.$executeRaw`
    UPDATE campaign_batches SET status = 'done', updated_at = ${c.now}
     WHERE campaign_id = ${c.campaignId}::uuid AND batch_no = ${c.batchNo}::int AND status = 'pending'
       AND NOT EXISTS (SELECT 1 FROM campaign_recipients
                        WHERE campaign_id = ${c.campaignId}::uuid AND batch_no = ${c.batchNo}::int AND status IN ('pending', 'sending'))`;
  return n === 1;
}
