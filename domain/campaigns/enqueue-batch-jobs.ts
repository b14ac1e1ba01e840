import type { DbOrTx } from '../../lib/db';
import { jobIds } from '../../queue/job-ids';
import type { Producer } from '../../queue/producer';

const ADD_CHUNK = 500;

/**
 * Adds one `campaign.send-batch.v1` job per batch that still has work, with
 * deterministic ids (`batch-<campaignId>-<batchNo>`), so repeated calls (a
 * re-run launch, reconciliation) add nothing twice. Returns the batches it
 * asked for. `batchNos` limits it to those batches.
 */
export async function enqueueBatchJobs(
  db: DbOrTx,
  producer: Producer,
  c: { campaignId: string; shopId: string; traceId: string; batchNos?: number[] },
): Promise<number[]> {
  const rows = c.batchNos
    ? await db.$queryRaw<{ batch_no: number }[]>`
        SELECT batch_no FROM campaign_batches
         WHERE campaign_id = ${c.campaignId}::uuid AND status = 'pending' AND batch_no = ANY(${c.batchNos}::int[])
         ORDER BY batch_no`
    : await db.$queryRaw<{ batch_no: number }[]>`
        SELECT batch_no FROM campaign_batches WHERE campaign_id = ${c.campaignId}::uuid AND status = 'pending' ORDER BY batch_no`;
  const batchNos = rows.map((r) => r.batch_no);
  for (let i = 0; i < batchNos.length; i += ADD_CHUNK) {
    await producer.addBulk(
      'campaign.send-batch.v1',
      batchNos.slice(i, i + ADD_CHUNK).map((batchNo) => ({
        payload: { traceId: c.traceId, campaignId: c.campaignId, shopId: c.shopId, batchNo },
        opts: { jobId: jobIds.sendBatch(c.campaignId, batchNo) },
      })),
    );
  }
  return batchNos;
}
