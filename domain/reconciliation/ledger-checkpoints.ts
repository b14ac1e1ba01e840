import { setLocal, type Db } from '../../lib/db';
import type { LedgerMismatch } from './ledger-check';

/**
 * Ledger rows one pass reads at most: well under the statement timeout (at
 * 1 M rows, summing all of them took 1–5 s on a busy host). Between passes a
 * shop writes a few rows, so only a first pass (or one after a checkpoint
 * was voided) meets the bound: it then checks the shops with the least to
 * read first and catches up with the rest over the next passes.
 */
export const LEDGER_ROWS_PER_PASS = 200_000;

export interface LedgerCheck {
  /** Shops compared this pass whose wallet disagrees with their ledger or reservations. */
  mismatches: LedgerMismatch[];
  /** Shops whose ledger misses a ledger_seq among the rows read: a row was deleted (never done but by hand). */
  gaps: string[];
  /** Shops not compared this pass: their checkpoint is still catching up with their ledger. */
  behind: number;
}

/**
 * The reconciliation pass's ledger check: the comparison of
 * findLedgerMismatches (balance = Σ ledger, reserved = Σ active
 * reservations, every wallet, every pass) at a cost that does not grow with
 * history. Σ ledger is the shop's checkpoint (credit_ledger_checkpoints: the
 * sum of its rows 1..ledger_seq, summed by an earlier pass) plus the rows
 * after it, read by range on (shop_id, ledger_seq); the checkpoint then moves
 * to the wallet's ledger_seq. So a pass reads each wallet, its checkpoint and
 * active reservations, and only the ledger rows written since the last pass.
 * Still found: a wallet changed by hand (compared every pass), a ledger row
 * added without its wallet change (after the checkpoint: a checkpoint only
 * moves over rows numbered without a gap, so every number below it is taken,
 * CHECK ledger_seq > 0), and a ledger row changed or deleted (statement
 * triggers void the shop's checkpoint, and the next passes sum its ledger
 * again). One statement, so wallet, checkpoint and ledger are read in one
 * snapshot, as each wallet change writes its wallet and ledger rows in one
 * transaction.
 */
export async function checkLedgerSinceCheckpoints(db: Db, opts: { rowsPerPass?: number; limit?: number } = {}): Promise<LedgerCheck> {
  const budget = opts.rowsPerPass ?? LEDGER_ROWS_PER_PASS;
  const rows = await db.$transaction(async (tx) => {
    // The planner cannot know where each checkpoint is: it expects a third of
    // the shop's ledger after it and would rather read the whole table (every
    // row, for a shop with most of them) than probe (shop_id, ledger_seq).
    await setLocal(tx, { indexReadsOnly: true });
    return tx.$queryRaw<{ behind: bigint; shop_id: string | null; balance: bigint; ledger: bigint; reserved: bigint; active: bigint; mismatch: boolean; gap: boolean }[]>`
      WITH w AS MATERIALIZED (
        SELECT w.shop_id, w.balance, w.reserved, w.ledger_seq AS wallet_seq,
               coalesce(cp.ledger_seq, 0) AS cp_seq, coalesce(cp.ledger_sum, 0) AS cp_sum, coalesce(cp.generation, 0) AS generation,
               greatest(w.ledger_seq - coalesce(cp.ledger_seq, 0), 0) AS backlog
          FROM credit_wallets w LEFT JOIN credit_ledger_checkpoints cp ON cp.shop_id = w.shop_id
      ), due AS MATERIALIZED (
        -- Smallest backlog first, within the budget: those are compared. The
        -- first one past it is read in part (its checkpoint moves by what is
        -- left of the budget); the others wait for a later pass.
        SELECT r.*, r.running <= ${budget}::bigint AS compared,
               CASE WHEN r.running <= ${budget}::bigint THEN r.wallet_seq
                    ELSE r.cp_seq + greatest(0, ${budget}::bigint - (r.running - r.backlog)) END AS read_to
          FROM (SELECT w.*, (sum(w.backlog) OVER (ORDER BY w.backlog, w.shop_id))::bigint AS running FROM w) r
      ), checked AS (
        SELECT d.shop_id, d.balance, d.reserved, d.cp_seq, d.read_to, d.generation, d.compared,
               d.cp_sum + coalesce(l.total, 0) AS ledger, d.cp_sum + coalesce(l.upto_sum, 0) AS upto_sum,
               coalesce(l.upto_rows, 0) AS upto_rows, coalesce(r.total, 0) AS active
          FROM due d
          -- Compared: every row after the checkpoint, past the wallet's ledger_seq too (a row written by hand), which the checkpoint never takes.
          -- Bounds of type bigint, as the index's: a numeric one is a filter on every row of the shop after its checkpoint.
          LEFT JOIN LATERAL (SELECT sum(t.amount) AS total, sum(t.amount) FILTER (WHERE t.ledger_seq <= d.read_to) AS upto_sum,
                                    count(*) FILTER (WHERE t.ledger_seq <= d.read_to) AS upto_rows
                               FROM credit_transactions t
                              WHERE t.shop_id = d.shop_id AND t.ledger_seq > d.cp_seq
                                AND t.ledger_seq <= CASE WHEN d.compared THEN 9223372036854775807::bigint ELSE d.read_to END) l ON true
          LEFT JOIN LATERAL (SELECT sum(r.amount - r.consumed - r.released) AS total FROM credit_reservations r
                              WHERE r.shop_id = d.shop_id AND r.status = 'active') r ON true
      ), moved AS (
        -- Only over rows without a gap, so no number below a checkpoint is free.
        INSERT INTO credit_ledger_checkpoints AS cp (shop_id, ledger_seq, ledger_sum, generation)
        SELECT shop_id, read_to, upto_sum, generation FROM checked WHERE read_to > cp_seq AND upto_rows = read_to - cp_seq
        ON CONFLICT (shop_id) DO UPDATE SET ledger_seq = excluded.ledger_seq, ledger_sum = excluded.ledger_sum, updated_at = now()
         -- Voided since this statement's snapshot (the sum is of rows that changed), or moved further by a concurrent pass: kept.
         WHERE cp.generation = excluded.generation AND cp.ledger_seq < excluded.ledger_seq
      ), found AS (
        SELECT shop_id, balance, ledger, reserved, active,
               compared AND (balance <> ledger OR reserved <> active) AS mismatch,
               read_to > cp_seq AND upto_rows <> read_to - cp_seq AS gap
          FROM checked
      )
      SELECT b.behind, f.* FROM (SELECT count(*) FILTER (WHERE NOT compared) AS behind FROM checked) b
        LEFT JOIN LATERAL (SELECT * FROM found WHERE mismatch OR gap ORDER BY shop_id LIMIT ${opts.limit ?? 1000}) f ON true`;
    // A first pass over a large ledger reads LEDGER_ROWS_PER_PASS rows: seconds at most.
  }, { timeout: 60_000 });
  const found = rows.filter((r) => r.shop_id !== null);
  return {
    mismatches: found.filter((r) => r.mismatch).map((r) => ({
      shopId: r.shop_id!,
      balance: Number(r.balance),
      ledgerSum: Number(r.ledger),
      reserved: Number(r.reserved),
      activeReservations: Number(r.active),
    })),
    gaps: found.filter((r) => r.gap).map((r) => r.shop_id!),
    behind: Number(rows[0]?.behind ?? 0),
  };
}
