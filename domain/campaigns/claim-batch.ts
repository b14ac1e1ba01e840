import type { Db, DbOrTx } from '../../lib/db';
import { sendableSql } from './audience';

export interface ClaimedRecipient {
  /** campaign_recipients.id (a bigint) as a string. */
  id: string;
  /**
   * `sending`: ours to send now. `skipped`: no longer sendable (opted out,
   * unsubscribed, erased since launch). `unknown`: an earlier attempt may have
   * sent it, to a provider that cannot dedup a re-send. Nothing is written to
   * the row until the settle records the outcome.
   */
  status: 'sending' | 'skipped' | 'unknown';
  /** True when an earlier attempt may have sent it (a crashed or timed-out send): re-sent with the same reference. */
  resend: boolean;
  attempt: number;
  phone: string | null;
  firstName: string | null;
  lastName: string | null;
}

export type ClaimResult =
  /** Another attempt holds a live claim on the batch until `until`. */
  | { outcome: 'leased'; until: Date }
  /**
   * The batch is ours under the token, for `recipients` (none: nothing to do
   * and no claim taken). `takeover`: it was taken from an attempt whose lease
   * ran out, so its pending rows may already have been sent.
   */
  | { outcome: 'claimed'; recipients: ClaimedRecipient[]; attempt: number; takeover: boolean };

interface BatchRow {
  claim_token: string | null;
  lease_until: Date | null;
}

interface Row {
  id: bigint;
  prev: string;
  ok: boolean;
  attempt: number;
  phone_e164: string | null;
  first_name: string | null;
  last_name: string | null;
}

/**
 * Claims a batch for one send attempt: the claim (token, lease, attempt + 1)
 * is written to the batch row only, so a recipient row is written once, by the
 * settle. The attempt sends:
 *  - the batch's `pending` rows, while the campaign is `sending`, or whatever
 *    its status when the batch is taken over from an attempt whose lease ran
 *    out (that attempt may have sent them);
 *  - rows left `sending` with a lease that ran out (a settle keeps rows there
 *    to be re-sent with the same reference).
 * Two statements in one transaction: the batch row is locked first, so the
 * rows are read with a snapshot taken after it, which sees a cancel that held
 * the lock before us (cancel-campaign.ts locks the batches, then cancels the
 * pending rows of the unclaimed ones). A duplicate or late job finds a live
 * claim and claims nothing; two concurrent jobs queue on the batch row.
 */
export async function claimBatch(
  db: Db,
  c: { campaignId: string; batchNo: number; token: string; now: Date; leaseMs: number; dedupsByReference: boolean },
): Promise<ClaimResult> {
  const leaseUntil = new Date(c.now.getTime() + c.leaseMs);
  return db.$transaction(async (tx) => {
    const [batch] = await tx.$queryRaw<BatchRow[]>`
      SELECT claim_token, lease_until FROM campaign_batches
       WHERE campaign_id = ${c.campaignId}::uuid AND batch_no = ${c.batchNo}::int AND status = 'pending'
         FOR UPDATE`;
    if (!batch) return { outcome: 'claimed', recipients: [], attempt: 0, takeover: false } as const;
    if (batch.claim_token !== null && batch.lease_until !== null && batch.lease_until.getTime() > c.now.getTime()) {
      return { outcome: 'leased', until: batch.lease_until } as const;
    }
    const takeover = batch.claim_token !== null;
    if (!takeover) {
      // A cancel leaves the pending rows of a batch someone holds to that
      // attempt; if the attempt then gave the batch back unsent (a provider
      // 5xx, 429 or refused connection), nobody will send those rows: they
      // are cancelled here, under the batch lock, rather than left pending.
      await tx.$executeRaw`
        UPDATE campaign_recipients SET status = 'cancelled', final_at = ${c.now}
         WHERE campaign_id = ${c.campaignId}::uuid AND batch_no = ${c.batchNo}::int AND status = 'pending'
           AND EXISTS (SELECT 1 FROM campaigns WHERE id = ${c.campaignId}::uuid AND status = 'cancelled')`;
    }
    // The claim is written only if there is something to send, so a batch
    // with nothing open (or a campaign no longer sending) is left unclaimed.
    const rows = await tx.$queryRaw<Row[]>`
      WITH cand AS MATERIALIZED (
        SELECT r.id, r.status AS prev, ${sendableSql('c')} AS ok, c.phone_e164, c.first_name, c.last_name
          FROM campaign_recipients r JOIN contacts c ON c.id = r.contact_id
         WHERE r.campaign_id = ${c.campaignId}::uuid AND r.batch_no = ${c.batchNo}::int
           AND ((r.status = 'pending'
                 AND (${takeover}::boolean OR EXISTS (SELECT 1 FROM campaigns WHERE id = ${c.campaignId}::uuid AND status = 'sending')))
                OR (r.status = 'sending' AND r.lease_until <= ${c.now}))
      ), claim AS (
        UPDATE campaign_batches SET claim_token = ${c.token}::uuid, lease_until = ${leaseUntil}, attempt = attempt + 1, updated_at = ${c.now}
         WHERE campaign_id = ${c.campaignId}::uuid AND batch_no = ${c.batchNo}::int AND EXISTS (SELECT 1 FROM cand)
        RETURNING attempt
      )
      SELECT cand.id, cand.prev, cand.ok, claim.attempt, cand.phone_e164, cand.first_name, cand.last_name
        FROM cand, claim ORDER BY cand.id`;
    const attempt = Number(rows[0]?.attempt ?? 0);
    const recipients = rows.map((r): ClaimedRecipient => {
      const resend = takeover || r.prev === 'sending';
      return {
        id: String(r.id),
        status: !r.ok ? 'skipped' : resend && !c.dedupsByReference ? 'unknown' : 'sending',
        resend,
        attempt,
        phone: r.phone_e164,
        firstName: r.first_name,
        lastName: r.last_name,
      };
    });
    return { outcome: 'claimed', recipients, attempt, takeover } as const;
  });
}

/**
 * Gives a claim back after a whole-request failure that guarantees nothing was
 * accepted (provider 5xx, 429, connection refused): the attempt is not
 * counted. A fresh claim is simply removed. A takeover is left as it found
 * the batch, claimed with a lease that has run out, because what the attempt
 * before it may have sent is still unknown. Guarded by the token, so a claim
 * that was already taken over is left alone.
 */
export async function releaseClaim(db: DbOrTx, c: { campaignId: string; batchNo: number; token: string; takeover: boolean; now: Date }): Promise<number> {
  return db.$executeRaw`
    UPDATE campaign_batches
       SET attempt = GREATEST(attempt - 1, 0),
           claim_token = CASE WHEN ${c.takeover}::boolean THEN claim_token END,
           lease_until = CASE WHEN ${c.takeover}::boolean THEN ${c.now}::timestamptz END
     WHERE campaign_id = ${c.campaignId}::uuid AND batch_no = ${c.batchNo}::int AND claim_token = ${c.token}::uuid`;
}
