import { sql, type Db, type DbOrTx } from '../../lib/db';
import type { SendTime } from '../compliance/send-time';
import { sendableSql } from './audience';

export interface ClaimedRecipient {
  /** campaign_recipients.id (a bigint) as a string. */
  id: string;
  /** The recipient's contact (set by the claim; fixtures may leave it out). */
  contactId?: string;
  /**
   * `sending`: ours to send now. `skipped`: no longer sendable (opted out,
   * unsubscribed, erased since launch). `unknown`: an earlier attempt may have
   * sent it, to a provider that cannot dedup a re-send. Nothing is written to
   * the row until the settle records the outcome.
   */
  status: 'sending' | 'skipped' | 'unknown';
  /**
   * Why a `skipped` row is skipped: no longer sendable, texted by a campaign
   * within the shop's smart-sending window, or quiet hours that leave no
   * instant to send it within the bound (compliance/send-time.ts).
   */
  skipReason?: 'not_sendable' | 'frequency_cap' | 'quiet_hours';
  /** True when this claim took the contact's send slot (frequency cap): given back if the message then fails. */
  tookSlot?: boolean;
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
  | { outcome: 'claimed'; recipients: ClaimedRecipient[]; attempt: number; takeover: boolean; deferred: Deferral | null };

/** Recipients left pending because they are inside their quiet hours, and the earliest instant one of them may be sent. */
export interface Deferral {
  count: number;
  until: Date;
}

export interface ClaimOptions {
  campaignId: string;
  batchNo: number;
  token: string;
  now: Date;
  leaseMs: number;
  dedupsByReference: boolean;
  /**
   * For a recipient: null when they may be texted now, else the first instant
   * they may, or `never` when their quiet hours leave none within the bound
   * (compliance/send-time.ts).
   */
  quietHours?: (r: { phone: string | null; timezone: string | null }) => SendTime;
  /**
   * Send slots (smart sending): every fresh message takes its contact's slot,
   * so it counts against later campaigns; with `windowHours` set (the cap is
   * on for this campaign) a contact whose slot another campaign took within
   * the window is skipped. Absent: slots are neither read nor written.
   */
  frequencyCap?: { shopId: string; windowHours: number | null } | null;
}

interface BatchRow {
  claim_token: string | null;
  lease_until: Date | null;
  not_before: Date | null;
}

interface Row {
  id: bigint;
  contact_id: string;
  prev: string;
  ok: boolean;
  phone_e164: string | null;
  timezone: string | null;
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
 * A recipient who would be sent now is first checked against their quiet
 * hours (their own zone, the legal floor): one inside them is left pending,
 * unclaimed, and the batch records how many and until when (`deferred`,
 * `not_before`), so the job comes back then while the rest of the batch is
 * sent. One whose quiet hours leave no instant within the bound (the shop's
 * window and the floor never both open) is not deferred, which would be
 * forever: it is recorded `skipped` (quiet_hours), or `unknown` if an
 * earlier attempt may have sent it. Then, with the shop's frequency cap on,
 * each fresh recipient's contact must win its send slot
 * (contact_send_slots): a guarded update (an upsert for a contact without
 * one) in the claim's statement, so of two campaigns claiming one contact at
 * the same instant exactly one gets it; the other records `skipped`
 * (frequency_cap).
 * Rows that may already have been sent (resends, takeovers) keep theirs.
 * Three statements in one transaction: the batch row is locked first, so the
 * rows are read with a snapshot taken after it, which sees a cancel that held
 * the lock before us (cancel-campaign.ts locks the batches, then cancels the
 * pending rows of the unclaimed ones). A duplicate or late job finds a live
 * claim and claims nothing; two concurrent jobs queue on the batch row. Slots
 * are taken in contact id order, so two claims never wait on each other in
 * a cycle.
 */
export async function claimBatch(db: Db, c: ClaimOptions): Promise<ClaimResult> {
  const leaseUntil = new Date(c.now.getTime() + c.leaseMs);
  return db.$transaction(async (tx) => {
    const [batch] = await tx.$queryRaw<BatchRow[]>`
      SELECT claim_token, lease_until, not_before FROM campaign_batches
       WHERE campaign_id = ${c.campaignId}::uuid AND batch_no = ${c.batchNo}::int AND status = 'pending'
         FOR UPDATE`;
    if (!batch) return { outcome: 'claimed', recipients: [], attempt: 0, takeover: false, deferred: null } as const;
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
    const rows = await tx.$queryRaw<Row[]>`
      SELECT r.id, r.contact_id, r.status AS prev, ${sendableSql('c')} AS ok, c.phone_e164, c.timezone, c.first_name, c.last_name
        FROM campaign_recipients r JOIN contacts c ON c.id = r.contact_id
       WHERE r.campaign_id = ${c.campaignId}::uuid AND r.batch_no = ${c.batchNo}::int
         AND ((r.status = 'pending'
               AND (${takeover}::boolean OR EXISTS (SELECT 1 FROM campaigns WHERE id = ${c.campaignId}::uuid AND status = 'sending')))
              OR (r.status = 'sending' AND r.lease_until <= ${c.now}))
       ORDER BY r.id`;

    // Quiet hours: only a row that would be sent now waits (a skipped or
    // unknown one is recorded without a message). One they never open for
    // is taken, to be recorded without a message too.
    const take: Row[] = [];
    const neverOpen = new Set<bigint>();
    let deferred = null as Deferral | null;
    for (const r of rows) {
      const resend = takeover || r.prev === 'sending';
      const until = r.ok && !(resend && !c.dedupsByReference) && c.quietHours ? c.quietHours({ phone: r.phone_e164, timezone: r.timezone }) : null;
      if (until === 'never') neverOpen.add(r.id);
      else if (until) {
        deferred = { count: (deferred?.count ?? 0) + 1, until: deferred && deferred.until < until ? deferred.until : until };
        continue;
      }
      take.push(r);
    }
    const claiming = take.length > 0;
    // Nothing to claim and no deferral to record (or clear): the batch is left as it is.
    if (!claiming && !deferred && batch.not_before === null) return { outcome: 'claimed', recipients: [], attempt: 0, takeover, deferred: null } as const;

    // In contact id order: the slot update takes its row locks in the order of its input, as the insert does.
    const capped = c.frequencyCap ? take.filter((r) => r.ok && !neverOpen.has(r.id) && !takeover && r.prev !== 'sending').map((r) => r.contact_id).sort() : [];
    const windowHours = c.frequencyCap?.windowHours ?? null;
    const enforce = windowHours !== null;
    const cutoff = new Date(c.now.getTime() - (windowHours ?? 0) * 3_600_000);
    // A retry of this campaign keeps its slot; another campaign's within the window wins (cap on).
    const slotFree = sql`NOT ${enforce}::boolean OR s.campaign_id = ${c.campaignId}::uuid OR s.last_at IS NULL OR s.last_at <= ${cutoff}::timestamptz`;
    // The claim is written only if there is something to send, so a batch
    // with nothing open (or a campaign no longer sending) is left unclaimed.
    const [written] = await tx.$queryRaw<{ attempt: number | null; taken: string[] | null }[]>`
      WITH claim AS (
        UPDATE campaign_batches
           SET claim_token = CASE WHEN ${claiming}::boolean THEN ${c.token}::uuid ELSE claim_token END,
               lease_until = CASE WHEN ${claiming}::boolean THEN ${leaseUntil}::timestamptz ELSE lease_until END,
               attempt = CASE WHEN ${claiming}::boolean THEN attempt + 1 ELSE attempt END,
               not_before = ${deferred?.until ?? null}::timestamptz, deferred = ${deferred?.count ?? 0}::int, updated_at = ${c.now}
         WHERE campaign_id = ${c.campaignId}::uuid AND batch_no = ${c.batchNo}::int
        RETURNING attempt
      ), moved AS (
        -- A contact with a slot (every one after a shop's first campaign):
        -- a plain guarded update. An upsert would lock the row first, one
        -- more WAL record per recipient. A concurrent claim of the same slot
        -- is waited for, and the guard is checked again on its version.
        UPDATE contact_send_slots s
           SET prev_at = CASE WHEN s.campaign_id = ${c.campaignId}::uuid THEN s.prev_at ELSE s.last_at END,
               last_at = ${c.now}::timestamptz, campaign_id = ${c.campaignId}::uuid
          FROM unnest(${capped}::uuid[]) AS t(id)
         WHERE s.contact_id = t.id AND (${slotFree})
        RETURNING s.contact_id
      ), fresh AS (
        -- The rest: no slot yet, one another campaign holds (the guard fails
        -- again here, under the row's lock), or one inserted or deleted since
        -- this statement's snapshot.
        INSERT INTO contact_send_slots AS s (contact_id, shop_id, campaign_id, last_at)
        SELECT t.id, ${c.frequencyCap?.shopId ?? null}::uuid, ${c.campaignId}::uuid, ${c.now}::timestamptz
          FROM unnest(${capped}::uuid[]) AS t(id)
         WHERE NOT EXISTS (SELECT 1 FROM moved m WHERE m.contact_id = t.id)
         ORDER BY t.id
        ON CONFLICT (contact_id) DO UPDATE
           SET prev_at = CASE WHEN s.campaign_id = EXCLUDED.campaign_id THEN s.prev_at ELSE s.last_at END,
               last_at = EXCLUDED.last_at, campaign_id = EXCLUDED.campaign_id
         WHERE ${slotFree}
        RETURNING s.contact_id
      )
      -- The winners are named only when someone lost: usually every contact
      -- wins, and naming them cost a 1 000-element text array per batch to
      -- build, send and parse. Each contact is in moved or fresh at most once.
      SELECT (SELECT attempt FROM claim) AS attempt,
             CASE WHEN (SELECT count(*) FROM moved) + (SELECT count(*) FROM fresh) < ${capped.length}::int
                  THEN ARRAY(SELECT contact_id::text FROM moved UNION ALL SELECT contact_id::text FROM fresh) END AS taken`;
    if (!claiming) return { outcome: 'claimed', recipients: [], attempt: 0, takeover, deferred } as const;

    const attempt = Number(written?.attempt ?? 0);
    const capSubject = new Set(capped);
    const won = written?.taken ? new Set(written.taken) : capSubject;
    const recipients = take.map((r): ClaimedRecipient => {
      const resend = takeover || r.prev === 'sending';
      const lost = capSubject.has(r.contact_id) && !won.has(r.contact_id);
      const never = neverOpen.has(r.id);
      // A row an earlier attempt may have sent is never recorded skipped: it
      // is `unknown` (charged only once proven sent), as it is where re-sending is unsafe.
      const status = !r.ok || lost || (never && !resend) ? 'skipped' : (resend && !c.dedupsByReference) || never ? 'unknown' : 'sending';
      return {
        id: String(r.id),
        contactId: r.contact_id,
        status,
        ...(status === 'skipped' ? { skipReason: never ? 'quiet_hours' : lost ? 'frequency_cap' : 'not_sendable' } : {}),
        ...(won.has(r.contact_id) ? { tookSlot: true } : {}),
        resend,
        attempt,
        phone: r.phone_e164,
        firstName: r.first_name,
        lastName: r.last_name,
      };
    });
    return { outcome: 'claimed', recipients, attempt, takeover, deferred } as const;
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
