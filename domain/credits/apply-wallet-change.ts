import { AppError } from '../../lib/errors';
import type { Tx } from '../../lib/db';
import { isCheckViolation } from '../../lib/pg-errors';

export type LedgerType = 'purchase' | 'debit' | 'refund' | 'grant' | 'adjustment';

export interface WalletChange {
  shopId: string;
  type: LedgerType;
  /** Signed: credits added (> 0) or removed (< 0). */
  amount: number;
  /** Unique per shop: the same key never changes the wallet twice. */
  idempotencyKey: string;
  reference?: string;
  traceId?: string;
  /** Moves `reserved` in the same UPDATE (a debit that consumes a reservation passes -amount). */
  reservedDelta?: number;
}

export interface WalletChangeResult {
  applied: boolean;
  balance: number;
  reserved: number;
}

/**
 * The one way the wallet balance changes: a ledger row and the wallet update,
 * in the caller's transaction, idempotent by (shop, key). The ledger row is
 * inserted first, computed from the locked wallet row, so balance_after and
 * ledger_seq (the apply order the wallet history is listed in; created_at is
 * the transaction's start, not when it got the lock) are exact; a replayed
 * key inserts nothing and changes nothing. The wallet's CHECK constraints
 * reject a negative balance or reserved > balance.
 */
export async function applyWalletChange(tx: Tx, change: WalletChange): Promise<WalletChangeResult> {
  if (!Number.isSafeInteger(change.amount) || change.amount === 0) throw new Error('wallet change amount must be a non-zero integer');
  const reservedDelta = change.reservedDelta ?? 0;
  await tx.$executeRaw`INSERT INTO credit_wallets (shop_id) VALUES (${change.shopId}::uuid) ON CONFLICT DO NOTHING`;
  let inserted: { ledger_seq: bigint }[];
  try {
    inserted = await tx.$queryRaw<{ ledger_seq: bigint }[]>`
      INSERT INTO credit_transactions (shop_id, type, amount, balance_after, reference, idempotency_key, trace_id, ledger_seq)
      SELECT w.shop_id, ${change.type}, ${change.amount}::bigint, w.balance + ${change.amount}::bigint, ${change.reference ?? null}, ${change.idempotencyKey}, ${change.traceId ?? null}, w.ledger_seq + 1
        FROM credit_wallets w WHERE w.shop_id = ${change.shopId}::uuid
         FOR UPDATE
      ON CONFLICT (shop_id, idempotency_key) DO NOTHING
      RETURNING ledger_seq`;
  } catch (err) {
    if (isCheckViolation(err)) throw insufficient(change);
    throw err;
  }
  const [row] = inserted;
  if (!row) {
    const [w] = await tx.$queryRaw<{ balance: bigint; reserved: bigint }[]>`SELECT balance, reserved FROM credit_wallets WHERE shop_id = ${change.shopId}::uuid`;
    return { applied: false, balance: Number(w?.balance ?? 0), reserved: Number(w?.reserved ?? 0) };
  }
  try {
    const [w] = await tx.$queryRaw<{ balance: bigint; reserved: bigint }[]>`
      UPDATE credit_wallets
         SET balance = balance + ${change.amount}::bigint, reserved = reserved + ${reservedDelta}::bigint, ledger_seq = ${row.ledger_seq}::bigint, updated_at = now()
       WHERE shop_id = ${change.shopId}::uuid
      RETURNING balance, reserved`;
    return { applied: true, balance: Number(w?.balance ?? 0), reserved: Number(w?.reserved ?? 0) };
  } catch (err) {
    if (isCheckViolation(err)) throw insufficient(change);
    throw err;
  }
}

function insufficient(change: WalletChange): AppError {
  return new AppError('INSUFFICIENT_CREDITS', 'Not enough credits for this change', { details: { needed: Math.abs(change.amount) } });
}
