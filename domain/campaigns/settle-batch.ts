import type { Logger } from 'pino';
import type { Db, Tx } from '../../lib/db';

/** What became of one claimed recipient's send. */
export type RecipientOutcome =
  | { id: string; kind: 'sent'; providerMessageId: string; segments: number }
  /** Certainly not sent and never will be (permanent rejection, unsendable). */
  | { id: string; kind: 'failed'; code: string }
  /** No longer sendable when claimed (opted out, unsubscribed, erased): never sent. */
  | { id: string; kind: 'skipped'; code: string }
  /** Certainly not sent, may work later: back to pending (failed once attempts run out). */
  | { id: string; kind: 'retry'; code: string }
  /** May have been sent and cannot be re-sent safely: never charged. */
  | { id: string; kind: 'unknown'; code: string }
  /** May have been sent; the provider dedups by reference, so keep the claim and re-send it (unknown once attempts run out). */
  | { id: string; kind: 'resend'; code: string };

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
 * update), with its outcome and the batch's attempt number. The debit is
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
    segments.push(o.kind === 'sent' ? o.segments : null);
    codes.push(o.kind === 'sent' ? null : o.code);
  }

  const settled = await db.$transaction(async (tx) => {
    // Safe to lose on a crash: this transaction only records what the provider
    // already accepted. If the last few milliseconds of commits vanish with a
    // Postgres crash, rows, claim and debit vanish together (one transaction)
    // and the batch is back under this claim: the lease runs out and the
    // takeover re-sends its rows with the same references (deduplicated by
    // the provider, then debited once) or records them `unknown` (never
    // charged) — exactly what a worker crash between the provider call and the
    // settle does. Not waiting for the WAL flush keeps the wallet row lock,
    // which every settle of the shop takes, held for microseconds, not a disk
    // write.
    // Rows are read by primary key only: with statistics that lag behind the
    // table (a campaign inserted since the last ANALYZE), the planner would
    // rather hash the whole table than probe a thousand keys.
    await tx.$executeRawUnsafe('SET LOCAL synchronous_commit = off; SET LOCAL enable_seqscan = off');
    // Locks are taken batch → recipients → wallet → reservation; cancel and
    // completion take the campaign first, then the same order, so they cannot
    // deadlock with a settle, which never locks the campaign row.
    const moved = await tx.$queryRaw<{ status: string; n: number; segs: bigint; ours: boolean }[]>`
      WITH input AS (
        SELECT * FROM unnest(${ids}::bigint[], ${kinds}::text[], ${messageIds}::text[], ${segments}::int[], ${codes}::text[])
          AS t(id, kind, message_id, segs, code)
      ), claim AS (
        UPDATE campaign_batches SET claim_token = NULL, lease_until = NULL, updated_at = ${s.now}
         WHERE campaign_id = ${s.campaignId}::uuid AND batch_no = ${s.batchNo}::int AND claim_token = ${s.token}::uuid
        RETURNING attempt, attempt >= ${s.maxAttempts}::int AS last
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
          segments = CASE WHEN i.kind = 'sent' THEN i.segs::smallint ELSE r.segments END,
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
         WHERE r.id = i.id AND r.status IN ('pending', 'sending')
        RETURNING r.status, r.segments, r.campaign_id = ${s.campaignId}::uuid AND r.batch_no = ${s.batchNo}::int AS ours
      )
      SELECT status, count(*)::int AS n, COALESCE(sum(segments), 0)::bigint AS segs, bool_and(ours) AS ours FROM moved GROUP BY status`;
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

interface DebitRow {
  taken: bigint;
  charge: bigint;
  ledger_rows: number;
}

/**
 * The debit in ONE statement, so the shop's wallet row — locked by every
 * settle, reservation and purchase of the shop — is held for the time Postgres
 * needs to run it, not for several round trips to a busy worker. It writes
 * what applyWalletChange writes (lib rule: a ledger row computed from the
 * locked wallet, idempotent by key, then the wallet update, both under the
 * wallet's CHECKs) plus the reservation consumption, in the lock order every
 * credit path uses: wallet, then reservation. A CTE runs once, when first
 * read; each step reads the one before, which fixes the order.
 */
async function debit(tx: Tx, s: SettleInput, summary: SettleSummary): Promise<void> {
  const total = summary.segments;
  const key = `debit-${s.campaignId}-${s.batchNo}-${s.token}`;
  const [row] = await tx.$queryRaw<DebitRow[]>`
    WITH w AS MATERIALIZED (
      SELECT shop_id, balance, reserved FROM credit_wallets WHERE shop_id = ${s.shopId}::uuid FOR UPDATE
    ), held AS MATERIALIZED (
      SELECT r.id, LEAST(${total}::bigint, r.amount - r.consumed - r.released) AS taken
        FROM credit_reservations r, w
       WHERE r.campaign_id = ${s.campaignId}::uuid AND r.status = 'active'
         FOR UPDATE OF r
    ), consumed AS (
      UPDATE credit_reservations r SET consumed = r.consumed + held.taken, updated_at = now()
        FROM held WHERE r.id = held.id
      RETURNING held.taken
    ), calc AS MATERIALIZED (
      -- The messages went out, so their rows are recorded whatever the wallet
      -- holds; the CHECKs forbid charging past what the balance covers, so an
      -- excess is charged only as far as it goes (reported by the caller).
      SELECT w.shop_id, w.balance, t.taken,
             LEAST(${total}::bigint, t.taken + GREATEST(0, w.balance - w.reserved)) AS charge
        FROM w, (SELECT COALESCE((SELECT taken FROM consumed), 0)::bigint AS taken) t
    ), ledger AS (
      INSERT INTO credit_transactions (shop_id, type, amount, balance_after, reference, idempotency_key, trace_id)
      SELECT shop_id, 'debit', -charge, balance - charge, ${`campaign:${s.campaignId}`}, ${key}, ${s.traceId ?? null}
        FROM calc WHERE charge > 0
      ON CONFLICT (shop_id, idempotency_key) DO NOTHING
      RETURNING amount
    ), wallet AS (
      UPDATE credit_wallets cw SET balance = cw.balance + l.amount, reserved = cw.reserved - calc.taken, updated_at = now()
        FROM ledger l, calc WHERE cw.shop_id = calc.shop_id
      RETURNING 1
    )
    SELECT COALESCE((SELECT taken FROM calc), 0)::bigint AS taken,
           COALESCE((SELECT charge FROM calc), 0)::bigint AS charge,
           (SELECT count(*) FROM wallet)::int AS ledger_rows`;
  const taken = Number(row?.taken ?? 0);
  const charge = Number(row?.charge ?? 0);
  summary.fromReservation = taken;
  summary.debited = charge;
  summary.shortfall = total - charge;
  // One claim settles once; a replayed key here would mean the reservation was
  // consumed without the wallet moving, so refuse (the transaction rolls back) rather than drift.
  if (charge > 0 && Number(row?.ledger_rows ?? 0) !== 1) throw new Error(`debit key for campaign ${s.campaignId} batch ${s.batchNo} was already used`);
  if (summary.shortfall > 0) {
    s.logger?.error({ campaignId: s.campaignId, batchNo: s.batchNo, segments: total, charged: charge, shortfall: summary.shortfall }, 'debit exceeds the wallet: charged what it could cover');
  }
}
