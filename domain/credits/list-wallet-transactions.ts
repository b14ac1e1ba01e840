import { empty, sql, type DbOrTx } from '../../lib/db';
import { decodeCursor, invalidCursor, readCursorJson, writeCursorJson } from '../../lib/cursor';
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
  ledger_seq: bigint;
}

const view = (r: Row): WalletTransactionView => ({
  id: r.id,
  type: r.type,
  amount: Number(r.amount),
  balanceAfter: Number(r.balance_after),
  reference: r.reference,
  createdAt: r.created_at.toISOString(),
});

const SEQ = /^[1-9][0-9]{0,18}$/;
const MAX_SEQ = 9_223_372_036_854_775_807n;

const encodeSeqCursor = (seq: bigint): string => writeCursorJson({ seq: seq.toString() });

/**
 * The cursor is the last row's ledger_seq. A cursor minted before ledger_seq
 * existed ({createdAt, id}) still pages on from the row it names, so a
 * client holding one across the deploy is not sent back to the first page.
 */
function readSeqCursor(raw: string): { seq: bigint } | { rowId: string } {
  return readCursorJson<{ seq: bigint } | { rowId: string }>(raw, (p) => {
    if (p.seq !== undefined) return typeof p.seq === 'string' && SEQ.test(p.seq) && BigInt(p.seq) <= MAX_SEQ ? { seq: BigInt(p.seq) } : null;
    return { rowId: decodeCursor(raw).id };
  });
}

/**
 * The ledger, newest first in the order the changes were applied (ledger_seq,
 * taken under the wallet lock; created_at is when the writing transaction
 * began, which two concurrent changes can hold in the opposite order), so
 * each row's balanceAfter follows from the one below it. Keyset-paginated
 * through credit_transactions_shop_id_ledger_seq_key: a row committed after a
 * page was read has a higher ledger_seq and never turns up on a later page.
 */
export async function listWalletTransactions(
  db: DbOrTx,
  shopId: string,
  q: { limit: number; cursor?: string },
): Promise<{ data: WalletTransactionView[]; nextCursor: string | null }> {
  let before: bigint | null = null;
  if (q.cursor !== undefined) {
    const c = readSeqCursor(q.cursor);
    if ('seq' in c) before = c.seq;
    else {
      const [row] = await db.$queryRaw<{ ledger_seq: bigint }[]>`
        SELECT ledger_seq FROM credit_transactions WHERE shop_id = ${shopId}::uuid AND id = ${c.rowId}::uuid`;
      if (!row) throw invalidCursor();
      before = row.ledger_seq;
    }
  }
  const rows = await db.$queryRaw<Row[]>`
    SELECT id, type, amount, balance_after, reference, created_at, ledger_seq FROM credit_transactions
     WHERE shop_id = ${shopId}::uuid ${before === null ? empty : sql`AND ledger_seq < ${before}::bigint`}
     ORDER BY ledger_seq DESC
     LIMIT ${q.limit + 1}`;
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return { data: page.map(view), nextCursor: rows.length > q.limit && last ? encodeSeqCursor(last.ledger_seq) : null };
}
