import type { Logger } from 'pino';
import type { Db, Tx } from '../../lib/db';
import { applyWalletChange } from '../credits/apply-wallet-change';
import { activeReservationForCampaign, consumeReservation } from '../credits/reservations';

/** What became of one claimed recipient's send. */
export type RecipientOutcome =
  | { id: string; kind: 'sent'; providerMessageId: string; segments: number }
  /** Certainly not sent and never will be (permanent rejection, unsendable). */
  | { id: string; kind: 'failed'; code: string }
  /** Certainly not sent, may work later: back to pending (failed once attempts run out). */
  | { id: string; kind: 'retry'; code: string }
  /** May have been sent and cannot be re-sent safely: never charged. */
  | { id: string; kind: 'unknown'; code: string }
  /** May have been sent; the provider dedups by reference, so keep the claim and re-send it (unknown once attempts run out). */
  | { id: string; kind: 'resend'; code: string };

export interface SettleSummary {
  sent: number;
  failed: number;
  /** Returned to pending for another attempt. */
  pending: number;
  unknown: number;
  /** Still `sending`, lease expired on purpose: to be re-sent with the same reference. */
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
  token: string;
  outcomes: RecipientOutcome[];
  now: Date;
  /** A row that has used this many attempts is not retried again. */
  maxAttempts: number;
  traceId?: string;
  logger?: Logger;
}

const EMPTY: SettleSummary = { sent: 0, failed: 0, pending: 0, unknown: 0, resend: 0, segments: 0, debited: 0, fromReservation: 0, shortfall: 0 };

/**
 * The ONE settle transaction of a send attempt. Every status change is guarded
 * by `status = 'sending' AND claim_token = token`, so only the claim that sent
 * the messages can settle them, once: a late or duplicate settle moves nothing
 * and therefore debits nothing. The debit is exactly Σ segments of the rows
 * this statement moved to `sent`, under the unique ledger key
 * `debit-<campaign>-<batch>-<token>`, taken from the reservation as far as it
 * still holds credits (a cancel may have released part of it), the rest from
 * the balance.
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

  return db.$transaction(async (tx) => {
    const moved = await tx.$queryRaw<{ status: string; n: number; segs: bigint }[]>`
      WITH input AS (
        SELECT * FROM unnest(${ids}::bigint[], ${kinds}::text[], ${messageIds}::text[], ${segments}::int[], ${codes}::text[])
          AS t(id, kind, message_id, segs, code)
      ), moved AS (
        UPDATE campaign_recipients r SET
          status = CASE i.kind
            WHEN 'sent' THEN 'sent'
            WHEN 'failed' THEN 'failed'
            WHEN 'unknown' THEN 'unknown'
            WHEN 'retry' THEN CASE WHEN r.attempt >= ${s.maxAttempts}::int THEN 'failed' ELSE 'pending' END
            ELSE CASE WHEN r.attempt >= ${s.maxAttempts}::int THEN 'unknown' ELSE 'sending' END
          END,
          provider_message_id = CASE WHEN i.kind = 'sent' THEN i.message_id ELSE r.provider_message_id END,
          segments = CASE WHEN i.kind = 'sent' THEN i.segs::smallint ELSE r.segments END,
          sent_at = CASE WHEN i.kind = 'sent' THEN ${s.now} ELSE r.sent_at END,
          error_code = CASE WHEN i.kind = 'sent' THEN NULL ELSE i.code END,
          final_at = CASE WHEN i.kind = 'failed' OR (i.kind = 'retry' AND r.attempt >= ${s.maxAttempts}::int) THEN ${s.now} ELSE r.final_at END,
          claim_token = CASE WHEN i.kind = 'retry' AND r.attempt < ${s.maxAttempts}::int THEN NULL ELSE r.claim_token END,
          lease_until = CASE WHEN i.kind = 'resend' THEN ${s.now}
                             WHEN i.kind = 'retry' AND r.attempt < ${s.maxAttempts}::int THEN NULL
                             ELSE r.lease_until END
          FROM input i
         WHERE r.id = i.id AND r.campaign_id = ${s.campaignId}::uuid AND r.status = 'sending' AND r.claim_token = ${s.token}::uuid
        RETURNING r.status, r.segments
      )
      SELECT status, count(*)::int AS n, COALESCE(sum(segments), 0)::bigint AS segs FROM moved GROUP BY status`;

    const summary: SettleSummary = { ...EMPTY };
    for (const row of moved) {
      const n = Number(row.n);
      if (row.status === 'sent') {
        summary.sent = n;
        summary.segments = Number(row.segs);
      } else if (row.status === 'failed') summary.failed = n;
      else if (row.status === 'pending') summary.pending = n;
      else if (row.status === 'unknown') summary.unknown = n;
      else if (row.status === 'sending') summary.resend = n;
    }
    if (moved.length > 0) {
      // Before the debit: locks are taken campaign → wallet → reservation,
      // the order completion and cancel use, so they cannot deadlock.
      await tx.$executeRaw`
        UPDATE campaigns SET last_activity_at = ${s.now}
         WHERE id = ${s.campaignId}::uuid AND last_activity_at < ${new Date(s.now.getTime() - 1_000)}`;
    }
    if (summary.segments > 0) await debit(tx, s, summary);
    return summary;
  });
}

async function debit(tx: Tx, s: SettleInput, summary: SettleSummary): Promise<void> {
  const total = summary.segments;
  // Wallet, then reservation: the lock order of cancel and completion too.
  const [wallet] = await tx.$queryRaw<{ balance: bigint; reserved: bigint }[]>`
    SELECT balance, reserved FROM credit_wallets WHERE shop_id = ${s.shopId}::uuid FOR UPDATE`;
  const reservation = await activeReservationForCampaign(tx, s.campaignId);
  const taken = reservation ? await consumeReservation(tx, reservation.id, total) : 0;
  // The messages went out, so their rows must be recorded whatever the wallet
  // holds; the CHECKs forbid charging past what the balance can cover, so
  // any excess is charged only as far as it goes and reported loudly.
  const available = wallet ? Number(wallet.balance - wallet.reserved) : 0;
  const charge = Math.min(total, taken + Math.max(0, available));
  summary.fromReservation = taken;
  summary.debited = charge;
  summary.shortfall = total - charge;
  if (summary.shortfall > 0) {
    s.logger?.error({ campaignId: s.campaignId, batchNo: s.batchNo, segments: total, charged: charge, shortfall: summary.shortfall }, 'debit exceeds the wallet: charged what it could cover');
  }
  if (charge === 0) return;
  const result = await applyWalletChange(tx, {
    shopId: s.shopId,
    type: 'debit',
    amount: -charge,
    idempotencyKey: `debit-${s.campaignId}-${s.batchNo}-${s.token}`,
    reference: `campaign:${s.campaignId}`,
    traceId: s.traceId,
    reservedDelta: -taken,
  });
  // One claim settles once; a replayed key here would mean the reservation was
  // consumed without the wallet moving, so refuse rather than drift.
  if (!result.applied) throw new Error(`debit key for campaign ${s.campaignId} batch ${s.batchNo} was already used`);
}
