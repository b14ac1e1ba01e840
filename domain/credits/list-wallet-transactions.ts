import { type Sql, join, sql, type DbOrTx } from '../../lib/db';
import { decodeCursor, pageOf } from '../../lib/cursor';
import type { LedgerType } from './apply-wallet-change';

export interface WalletTransactionView {
  id: string;
  type: LedgerType;
  /** Signed: credits added (> 0) or removed (< 0). */
  amount: number;
  balanceAfter: number;
  reference: string | null;
  createdAt: string;
}

interface Row {
  id: string;
  type: LedgerType;
  amount: bigint;
  balance_after: bigint;
  reference: string | null;
  created_at: Date;
}

const view = (r: Row): WalletTransactionView => ({
  id: r.id,
  type: r.type,
  amount: Number(r.amount),
  balanceAfter: Number(r.balance_after),
  reference: r.reference,
  createdAt: r.created_at.toISOString(),
});

/** The ledger, newest first, keyset-paginated through credit_transactions_shop_id_created_at_id_idx. */
export async function listWalletTransactions(
  db: DbOrTx,
  shopId: string,
  q: { limit: number; cursor?: string },
): Promise<{ data: WalletTransactionView[]; nextCursor: string | null }> {
  const where: Sql[] = [sql`shop_id = ${shopId}::uuid`];
  if (q.cursor !== undefined) {
    const c = decodeCursor(q.cursor);
    where.push(sql`(created_at, id) < (${c.createdAt}::timestamptz, ${c.id}::uuid)`);
  }
  const rows = await db.$queryRaw<Row[]>`
    SELECT id, type, amount, balance_after, reference, created_at FROM credit_transactions
     WHERE ${join(where, ' AND ')}
     ORDER BY created_at DESC, id DESC
     LIMIT ${q.limit + 1}`;
  return pageOf(rows, q.limit, view);
}
