import type { DbOrTx } from '../../lib/db';
import { sendableSql } from './audience';

export interface ClaimedRecipient {
  /** campaign_recipients.id (a bigint) as a string. */
  id: string;
  /**
   * `sending`: ours to send now. `skipped`: no longer sendable (opted out,
   * unsubscribed, erased since launch). `unknown`: a stale claim whose send
   * may have happened, to a provider that cannot dedup a re-send.
   */
  status: 'sending' | 'skipped' | 'unknown';
  /** True when the row was a stale claim (a crashed or timed-out send), re-sent with the same reference. */
  resend: boolean;
  attempt: number;
  phone: string | null;
  firstName: string | null;
  lastName: string | null;
}

interface Row {
  id: bigint;
  status: ClaimedRecipient['status'];
  prev: string;
  attempt: number;
  phone_e164: string | null;
  first_name: string | null;
  last_name: string | null;
}

/**
 * Claims a batch's work in ONE guarded statement: `pending` rows (only while
 * the campaign is `sending`) and `sending` rows whose lease has run out (a
 * crashed or stuck attempt, whatever the campaign status, since they were
 * already in flight). Each claimed row gets the fresh `token`, a lease and
 * attempt + 1; in the same statement, anyone no longer sendable becomes
 * `skipped`, and a stale claim becomes `unknown` unless the provider dedups by
 * reference. A duplicate or late job finds nothing and claims nothing; two
 * concurrent jobs split the rows between them (SKIP LOCKED), never share one.
 */
export async function claimBatch(
  db: DbOrTx,
  c: { campaignId: string; batchNo: number; token: string; now: Date; leaseMs: number; dedupsByReference: boolean },
): Promise<ClaimedRecipient[]> {
  const leaseUntil = new Date(c.now.getTime() + c.leaseMs);
  const rows = await db.$queryRaw<Row[]>`
    WITH cand AS (
      SELECT r.id, r.status AS prev, ${sendableSql('c')} AS ok, c.phone_e164, c.first_name, c.last_name
        FROM campaign_recipients r JOIN contacts c ON c.id = r.contact_id
       WHERE r.campaign_id = ${c.campaignId}::uuid AND r.batch_no = ${c.batchNo}::int AND r.status IN ('pending', 'sending')
         AND ((r.status = 'pending' AND EXISTS (SELECT 1 FROM campaigns WHERE id = ${c.campaignId}::uuid AND status = 'sending'))
              OR (r.status = 'sending' AND r.lease_until <= ${c.now}))
       ORDER BY r.id
       FOR UPDATE OF r SKIP LOCKED
    )
    UPDATE campaign_recipients r
       SET status = CASE WHEN NOT cand.ok THEN 'skipped'
                         WHEN cand.prev = 'sending' AND NOT ${c.dedupsByReference}::boolean THEN 'unknown'
                         ELSE 'sending' END,
           error_code = CASE WHEN NOT cand.ok THEN 'not_sendable'
                             WHEN cand.prev = 'sending' AND NOT ${c.dedupsByReference}::boolean THEN 'lease_expired'
                             ELSE r.error_code END,
           final_at = CASE WHEN NOT cand.ok THEN ${c.now} ELSE r.final_at END,
           claim_token = ${c.token}::uuid,
           lease_until = ${leaseUntil},
           attempt = r.attempt + 1
      FROM cand
     WHERE r.id = cand.id
    RETURNING r.id, r.status, cand.prev, r.attempt, cand.phone_e164, cand.first_name, cand.last_name`;
  return rows.map((r) => ({
    id: String(r.id),
    status: r.status,
    resend: r.prev === 'sending',
    attempt: Number(r.attempt),
    phone: r.phone_e164,
    firstName: r.first_name,
    lastName: r.last_name,
  }));
}

/**
 * Gives a claim back after a whole-request failure that guarantees nothing was
 * accepted (provider 5xx, 429, connection refused): the rows return to
 * `pending` and the attempt is not counted. Guarded by the claim token, so a
 * claim that was already taken over is left alone.
 */
export async function releaseClaim(db: DbOrTx, c: { campaignId: string; batchNo: number; ids: string[]; token: string }): Promise<number> {
  if (c.ids.length === 0) return 0;
  // Campaign and batch too: whatever index the planner picks then reads this batch's rows only.
  return db.$executeRaw`
    UPDATE campaign_recipients
       SET status = 'pending', claim_token = NULL, lease_until = NULL, attempt = GREATEST(attempt - 1, 0)
     WHERE id = ANY(${c.ids}::bigint[]) AND campaign_id = ${c.campaignId}::uuid AND batch_no = ${c.batchNo}::int
       AND status = 'sending' AND claim_token = ${c.token}::uuid`;
}
