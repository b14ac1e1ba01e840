import type { Tx } from '../../lib/db';

interface DebitRow {
  taken: bigint;
  charge: bigint;
  ledger_rows: number;
}

export interface SegmentsDebit {
  /** Part of the charge taken from the campaign's active reservation. */
  taken: number;
  /** Credits charged: `total` unless the wallet could not cover it. */
  charge: number;
}

/**
 * Charges a campaign for `total` segments that certainly went out, in ONE
 * statement, so the shop's wallet row — locked by every settle, reservation
 * and purchase of the shop — is held for the time Postgres needs to run it,
 * not for several round trips to a busy worker. It writes what
 * applyWalletChange writes (lib rule: a ledger row computed from the locked
 * wallet, its balance_after and apply-order ledger_seq included, idempotent
 * by key, then the wallet update, both under the wallet's CHECKs) plus the
 * reservation consumption, in the lock order every credit path uses: wallet,
 * then reservation. The charge is taken from the
 * campaign's reservation as far as it still holds credits (a cancel or the
 * completion may have released it), the rest from the available balance,
 * and never past what the balance covers (the caller reports a shortfall).
 * A CTE runs once, when first read; each step reads the one before, which
 * fixes the order. Callers make the rows they charge for final in the same
 * transaction, guarded, so the same segments are never charged twice; a
 * reused key (which would consume the reservation without moving the
 * wallet) throws and rolls the transaction back rather than drift.
 */
export async function debitCampaignSegments(
  tx: Tx,
  d: { shopId: string; campaignId: string; total: number; key: string; traceId?: string | null },
): Promise<SegmentsDebit> {
  if (d.total <= 0) return { taken: 0, charge: 0 };
  const [row] = await tx.$queryRaw<DebitRow[]>`
    WITH w AS MATERIALIZED (
      SELECT shop_id, balance, reserved, ledger_seq FROM credit_wallets WHERE shop_id = ${d.shopId}::uuid FOR UPDATE
    ), held AS MATERIALIZED (
      SELECT r.id, LEAST(${d.total}::bigint, r.amount - r.consumed - r.released) AS taken
        FROM credit_reservations r, w
       WHERE r.campaign_id = ${d.campaignId}::uuid AND r.status = 'active'
         FOR UPDATE OF r
    ), consumed AS (
      UPDATE credit_reservations r SET consumed = r.consumed + held.taken, updated_at = now()
        FROM held WHERE r.id = held.id
      RETURNING held.taken
    ), calc AS MATERIALIZED (
      -- The messages went out, so their rows are recorded whatever the wallet
      -- holds; the CHECKs forbid charging past what the balance covers, so an
      -- excess is charged only as far as it goes (reported by the caller).
      SELECT w.shop_id, w.balance, w.ledger_seq, t.taken,
             LEAST(${d.total}::bigint, t.taken + GREATEST(0, w.balance - w.reserved)) AS charge
        FROM w, (SELECT COALESCE((SELECT taken FROM consumed), 0)::bigint AS taken) t
    ), ledger AS (
      INSERT INTO credit_transactions (shop_id, type, amount, balance_after, reference, idempotency_key, trace_id, ledger_seq)
      SELECT shop_id, 'debit', -charge, balance - charge, ${`campaign:${d.campaignId}`}, ${d.key}, ${d.traceId ?? null}, ledger_seq + 1
        FROM calc WHERE charge > 0
      ON CONFLICT (shop_id, idempotency_key) DO NOTHING
      RETURNING amount, ledger_seq
    ), wallet AS (
      UPDATE credit_wallets cw SET balance = cw.balance + l.amount, reserved = cw.reserved - calc.taken, ledger_seq = l.ledger_seq, updated_at = now()
        FROM ledger l, calc WHERE cw.shop_id = calc.shop_id
      RETURNING 1
    )
    SELECT COALESCE((SELECT taken FROM calc), 0)::bigint AS taken,
           COALESCE((SELECT charge FROM calc), 0)::bigint AS charge,
           (SELECT count(*) FROM wallet)::int AS ledger_rows`;
  const taken = Number(row?.taken ?? 0);
  const charge = Number(row?.charge ?? 0);
  if (charge > 0 && Number(row?.ledger_rows ?? 0) !== 1) throw new Error(`debit key ${d.key} was already used`);
  return { taken, charge };
}
