import type { DbOrTx } from '../../lib/db';

/** BullMQ's largest job priority (2^21); 0 means "no priority" and is served before every prioritized job. */
export const MAX_BATCH_PRIORITY = 2_097_152;

/**
 * Fair sharing between shops (docs/architecture.md, "Fair sharing"): the
 * BullMQ priority of a batch's send job is the batch's place in its shop's
 * own queue when the job is added, counted over the shop's open batches: the
 * pending batches of the shop's campaigns that started sending before this
 * one, then this campaign's pending batches up to and including it. The
 * `sends` queue serves the lowest priority first (FIFO among equals), so the
 * shops' queues are served place by place: every shop's 1st open batch, then
 * every shop's 2nd, … A shop that starts a small campaign while another is
 * deep into a 1 M one gets places 1, 2, … and goes before the big campaign's
 * queued batches, which hold the places they were given when added.
 *
 * A place, not a number stored anywhere: reconciliation computes it again
 * for a job it re-adds (the place may have moved on by then, which only
 * brings the job forward). Returns the campaign's pending batches among
 * `batchNos` (all of them when null) in batch order, each with its priority.
 */
export async function batchPriorities(
  db: DbOrTx,
  c: { campaignId: string; shopId: string; batchNos: number[] | null },
): Promise<{ batchNo: number; priority: number }[]> {
  if (c.batchNos?.length === 0) return [];
  const rows = await db.$queryRaw<{ batch_no: number; place: number }[]>`
    WITH me AS (
      SELECT COALESCE(started_at, created_at) AS t FROM campaigns WHERE id = ${c.campaignId}::uuid
    ), ahead AS (
      SELECT count(*)::int AS n
        FROM me, campaigns o JOIN campaign_batches b ON b.campaign_id = o.id AND b.status = 'pending'
       WHERE o.shop_id = ${c.shopId}::uuid AND o.status = 'sending' AND o.id <> ${c.campaignId}::uuid
         AND (COALESCE(o.started_at, o.created_at), o.id) < (me.t, ${c.campaignId}::uuid)
    ), mine AS (
      SELECT batch_no, row_number() OVER (ORDER BY batch_no)::int AS k
        FROM campaign_batches WHERE campaign_id = ${c.campaignId}::uuid AND status = 'pending'
    )
    SELECT m.batch_no, ((SELECT n FROM ahead) + m.k)::int AS place FROM mine m
     WHERE ${c.batchNos}::int[] IS NULL OR m.batch_no = ANY(${c.batchNos}::int[])
     ORDER BY m.batch_no`;
  return rows.map((r) => ({ batchNo: r.batch_no, priority: Math.min(MAX_BATCH_PRIORITY, Math.max(1, r.place)) }));
}
