import type { DbOrTx } from '../../lib/db';
import { jobIds } from '../../queue/job-ids';
import type { Producer } from '../../queue/producer';
import { batchPriorities } from './batch-priorities';

const ADD_CHUNK = 500;

/**
 * Adds one `campaign.send-batch.v1` job per batch that still has work, with
 * deterministic ids (`batch-<campaignId>-<batchNo>`), so repeated calls (a
 * re-run launch, reconciliation) add nothing twice, each with its place in
 * its shop's queue as priority (batch-priorities.ts: fair sharing between
 * shops). Returns the batches it asked for. `batchNos` limits it to those
 * batches.
 */
export async function enqueueBatchJobs(
  db: DbOrTx,
  producer: Producer,
  c: { campaignId: string; shopId: string; traceId: string; batchNos?: number[] },
): Promise<number[]> {
  const batches = await batchPriorities(db, { campaignId: c.campaignId, shopId: c.shopId, batchNos: c.batchNos ?? null });
  for (let i = 0; i < batches.length; i += ADD_CHUNK) {
    await producer.addBulk(
      'campaign.send-batch.v1',
      batches.slice(i, i + ADD_CHUNK).map(({ batchNo, priority }) => ({
        payload: { traceId: c.traceId, campaignId: c.campaignId, shopId: c.shopId, batchNo },
        opts: { jobId: jobIds.sendBatch(c.campaignId, batchNo), priority },
      })),
    );
  }
  return batches.map((b) => b.batchNo);
}
