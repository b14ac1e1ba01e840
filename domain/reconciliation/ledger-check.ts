import type { DbOrTx } from '../../lib/db';

export interface LedgerMismatch {
  shopId: string;
  balance: number;
  ledgerSum: number;
  reserved: number;
  activeReservations: number;
}

/**
 * Wallet balance must equal Σ ledger, and reserved must equal what active
 * reservations still hold. A mismatch is reported, never "fixed": money is
 * corrected by a person with an audited adjustment (see the credit runbook).
 * Sums every ledger row: the audit on demand (`ops wallet:verify`), trusting
 * no checkpoint. The reconciliation pass runs ledger-checkpoints.ts instead,
 * whose cost does not grow with the ledger's history.
 */
export async function findLedgerMismatches(db: DbOrTx, opts: { shopId?: string; limit?: number } = {}): Promise<LedgerMismatch[]> {
  const rows = await db.$queryRaw<{ shop_id: string; balance: bigint; ledger: bigint; reserved: bigint; active: bigint }[]>`
    SELECT w.shop_id, w.balance, coalesce(l.total, 0)::bigint AS ledger, w.reserved, coalesce(r.total, 0)::bigint AS active
      FROM credit_wallets w
      LEFT JOIN LATERAL (SELECT sum(amount) AS total FROM credit_transactions t WHERE t.shop_id = w.shop_id) l ON true
      LEFT JOIN LATERAL (SELECT sum(amount - consumed - released) AS total FROM credit_reservations r
                          WHERE r.shop_id = w.shop_id AND r.status = 'active') r ON true
     WHERE (${opts.shopId ?? null}::uuid IS NULL OR w.shop_id = ${opts.shopId ?? null}::uuid)
       AND (w.balance <> coalesce(l.total, 0) OR w.reserved <> coalesce(r.total, 0))
     ORDER BY w.shop_id
     LIMIT ${opts.limit ?? 1000}`;
  return rows.map((r) => ({
    shopId: r.shop_id,
    balance: Number(r.balance),
    ledgerSum: Number(r.ledger),
    reserved: Number(r.reserved),
    activeReservations: Number(r.active),
  }));
}
