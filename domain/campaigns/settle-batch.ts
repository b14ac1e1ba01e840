import type { Logger } from 'pino';
import { setLocal, withoutNestedLoops, type Db, type Tx } from '../../lib/db';
import { debitCampaignSegments } from './debit-segments';

/** What became of one claimed recipient's send. */
export type RecipientOutcome =
  | { id: string; kind: 'sent'; providerMessageId: string; segments: number }
  /** Certainly not sent and never will be (permanent rejection, unsendable). */
  | { id: string; kind: 'failed'; code: string }
  /** No longer sendable when claimed (opted out, unsubscribed, erased): never sent. */
  | { id: string; kind: 'skipped'; code: string }
  /** Certainly not sent, may work later: back to pending (failed once attempts run out). */
  | { id: string; kind: 'retry'; code: string }
  /**
   * May have been sent and cannot be re-sent safely: not charged now. `segments`
   * (what the message costs) is kept on the row and charged only if a delivery
   * report or the on-call proves it went out (confirm-unknown.ts).
   */
  | { id: string; kind: 'unknown'; code: string; segments: number | null }
  /** May have been sent; the provider dedups by reference, so keep the claim and re-send it (unknown once attempts run out). */
  | { id: string; kind: 'resend'; code: string; segments: number | null };

export interface SettleSummary {
  sent: number;
  failed: number;
  skipped: number;
  /** Returned to pending for another attempt. */
  pending: number;
  unknown: number;
  /** Left `sending` with a claim of their own whose lease has run out: to be re-sent with the same reference. */
  resend: number;
  /** Σ segments of the rows this settle moved to `sent`. */
  segments: number;
  /** Credits debited: equals `segments` unless the wallet could not cover it (see `shortfall`). */
  debited: number;
  /** Part of `debited` taken from the campaign's reservation; the rest came from the available balance. */
  fromReservation: number;
  shortfall: number;
}

export interface SettleInput {
  campaignId: string;
  shopId: string;
  batchNo: number;
  /** The batch claim's token (claim-batch.ts). */
  token: string;
  outcomes: RecipientOutcome[];
  now: Date;
  /** A batch that has used this many attempts is not retried again. */
  maxAttempts: number;
  traceId?: string;
  logger?: Logger;
}

const EMPTY: SettleSummary = { sent: 0, failed: 0, skipped: 0, pending: 0, unknown: 0, resend: 0, segments: 0, debited: 0, fromReservation: 0, shortfall: 0 };

/**
 * The ONE settle transaction of a send attempt. It first ends the batch's
 * claim, guarded by `claim_token = token`, so only the claim that sent the
 * messages can settle them, once: a late or duplicate settle, or one whose
 * claim was taken over after its lease ran out, moves nothing and therefore
 * debits nothing. Each recipient row is then written once, in place (no index
 * names a column written here, and the page keeps room for it: a heap-only
 * update), with its outcome and the batch's attempt number; the batch row
 * counts the messages that went out (`sent`, the list's base for click
 * rate and revenue per message). The debit is
 * exactly Σ segments of the rows this statement moved to `sent`, under the
 * unique ledger key `debit-<campaign>-<batch>-<token>`, taken from the
 * reservation as far as it still holds credits (a cancel may have released
 * part of it), the rest from the balance.
 */
export async function settleBatch(db: Db, s: SettleInput): Promise<SettleSummary> {
  if (s.outcomes.length === 0) return { ...EMPTY };
  const ids: string[] = [];
  const kinds: string[] = [];
  const messageIds: (string | null)[] = [];
  const segments: (number | null)[] = [];
  const codes: (string | null)[] = [];
  for (const o of s.outcomes) {
    ids.push(o.id);
    kinds.push(o.kind);
    messageIds.push(o.kind === 'sent' ? o.providerMessageId : null);
    segments.push(o.kind === 'sent' || o.kind === 'unknown' || o.kind === 'resend' ? o.segments : null);
    codes.push(o.kind === 'sent' ? null : o.code);
  }

  const settled = await db.$transaction(async (tx) => {
    // Lost with a Postgres crash, rows, claim and debit vanish together and
    // the batch is back under this claim: the lease runs out and the takeover
    // re-sends its rows with the same references (deduplicated by the
    // provider, then debited once) or records them `unknown` (never charged),
    // exactly what a worker crash between the provider call and the settle does.
    // Rows by primary key only, and hash joins for the settle statement
    // (withoutNestedLoops says why; 2 s a settle under load before, measured).
    await setLocal(tx, { asyncCommit: true, indexReadsOnly: true });
    // Locks are taken batch → recipients → wallet → reservation; cancel and
    // completion take the campaign first, then the same order, so they cannot
    // deadlock with a settle, which never locks the campaign row.
    const moved = await withoutNestedLoops(tx, () => tx.$queryRaw<{ status: string; n: number; segs: bigint; ours: boolean }[]>`
      WITH input AS (
        SELECT * FROM unnest(${ids}::bigint[], ${kinds}::text[], ${messageIds}::text[], ${segments}::int[], ${codes}::text[])
          AS t(id, kind, message_id, segs, code)
      ), claim AS (
        -- Locked here, released below with the count of what went out: one
        -- new version of the batch row, not one for the claim and one for the count.
        SELECT attempt, attempt >= ${s.maxAttempts}::int AS last FROM campaign_batches
         WHERE campaign_id = ${s.campaignId}::uuid AND batch_no = ${s.batchNo}::int AND claim_token = ${s.token}::uuid
           FOR UPDATE
      ), moved AS (
        UPDATE campaign_recipients r SET
          status = CASE i.kind
            WHEN 'sent' THEN 'sent'
            WHEN 'failed' THEN 'failed'
            WHEN 'skipped' THEN 'skipped'
            WHEN 'unknown' THEN 'unknown'
            WHEN 'retry' THEN CASE WHEN b.last THEN 'failed' ELSE 'pending' END
            ELSE CASE WHEN b.last THEN 'unknown' ELSE 'sending' END
          END,
          attempt = b.attempt,
          provider_message_id = CASE WHEN i.kind = 'sent' THEN i.message_id ELSE r.provider_message_id END,
          -- An unknown row keeps what it would cost, charged only once proven sent.
          segments = CASE WHEN i.kind = 'sent' OR i.kind = 'unknown' OR (i.kind = 'resend' AND b.last) THEN i.segs::smallint ELSE r.segments END,
          sent_at = CASE WHEN i.kind = 'sent' THEN ${s.now} ELSE r.sent_at END,
          error_code = CASE WHEN i.kind = 'sent' THEN NULL ELSE i.code END,
          final_at = CASE WHEN i.kind IN ('failed', 'skipped') OR (i.kind = 'retry' AND b.last) THEN ${s.now} ELSE r.final_at END,
          -- A row to re-send keeps a claim of its own, already run out, so the
          -- next attempt takes it whatever the campaign's status and re-sends
          -- it with the same reference; every other row carries none.
          claim_token = CASE WHEN i.kind = 'resend' AND NOT b.last THEN ${s.token}::uuid END,
          lease_until = CASE WHEN i.kind = 'resend' AND NOT b.last THEN ${s.now}::timestamptz END
          FROM input i, claim b
         -- By id only, so the plan is primary-key probes from the input; that
         -- every row is this batch's is checked on what the update returns.
         -- The ids again as an index condition: with statistics that call the
         -- table nearly empty (a first campaign before autoanalyze), the
         -- planner otherwise walked every open row of the table and joined
         -- each to the 1 000 inputs (5.5 s a settle, measured); this bounds
         -- any plan to the batch's own rows.
         WHERE r.id = ANY(${ids}::bigint[]) AND r.id = i.id AND r.status IN ('pending', 'sending')
        RETURNING r.status, r.segments, r.campaign_id = ${s.campaignId}::uuid AND r.batch_no = ${s.batchNo}::int AS ours
      ), released AS (
        -- The same guard as the claim's read: a concurrent takeover that
        -- changed the token since is seen here too, and nothing is released.
        UPDATE campaign_batches SET claim_token = NULL, lease_until = NULL, updated_at = ${s.now},
               sent = sent + (SELECT count(*) FROM moved WHERE status = 'sent')::int
         WHERE campaign_id = ${s.campaignId}::uuid AND batch_no = ${s.batchNo}::int AND claim_token = ${s.token}::uuid
        RETURNING 1
      )
      SELECT status, count(*)::int AS n, COALESCE(sum(segments), 0)::bigint AS segs, bool_and(ours) AS ours FROM moved GROUP BY status`);
    // The ids come from this batch's claim; anything else is a bug, and rolls back.
    if (moved.some((m) => !m.ours)) throw new Error(`settle of campaign ${s.campaignId} batch ${s.batchNo} named a recipient of another batch`);

    const summary: SettleSummary = { ...EMPTY };
    for (const row of moved) {
      const n = Number(row.n);
      if (row.status === 'sent') {
        summary.sent = n;
        summary.segments = Number(row.segs);
      } else if (row.status === 'failed') summary.failed = n;
      else if (row.status === 'skipped') summary.skipped = n;
      else if (row.status === 'pending') summary.pending = n;
      else if (row.status === 'unknown') summary.unknown = n;
      else if (row.status === 'sending') summary.resend = n;
    }
    if (summary.segments > 0) await debit(tx, s, summary);
    return summary;
  });
  // Liveness for stuck-campaign detection, outside the transaction: every
  // settle of the campaign would otherwise queue on its row for the length of
  // a whole settle. At most once a second.
  if (settled.sent + settled.failed + settled.skipped + settled.pending + settled.unknown + settled.resend > 0) {
    await db.$executeRaw`
      UPDATE campaigns SET last_activity_at = ${s.now}
       WHERE id = ${s.campaignId}::uuid AND last_activity_at < ${new Date(s.now.getTime() - 1_000)}`;
  }
  return settled;
}

/**
 * The debit of the segments this settle moved to `sent`, under the unique
 * ledger key `debit-<campaign>-<batch>-<token>` (debit-segments.ts).
 */
async function debit(tx: Tx, s: SettleInput, summary: SettleSummary): Promise<void> {
  const total = summary.segments;
  const { taken, charge } = await debitCampaignSegments(tx, {
    shopId: s.shopId,
    campaignId: s.campaignId,
    total,
    key: `debit-${s.campaignId}-${s.batchNo}-${s.token}`,
    traceId: s.traceId,
  });
  summary.fromReservation = taken;
  summary.debited = charge;
  summary.shortfall = total - charge;
  if (summary.shortfall > 0) {
    s.logger?.error({ campaignId: s.campaignId, batchNo: s.batchNo, segments: total, charged: charge, shortfall: summary.shortfall }, 'debit exceeds the wallet: charged what it could cover');
  }
}
