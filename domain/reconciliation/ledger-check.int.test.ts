import { Client } from 'pg';
import { createDb, type Db } from '../../lib/db';
import { createShop, grantCredits, type ShopFixture } from '../../test/factories';
import { useTestEnv } from '../../test/harness';
import { waitFor } from '../../test/sending';
import { findLedgerMismatches } from './ledger-check';
import { checkLedgerSinceCheckpoints } from './ledger-checkpoints';
import { runReconciliation } from './run-reconciliation';

// The pass's ledger check: every wallet against Σ its ledger, every pass, at
// a cost that does not grow with the ledger's history. Its own database, so
// the table's read counters count this file's passes only.

const t = useTestEnv();
const HISTORY = 20_000;

/** Ledger rows this connection's backend has read so far (its counters flushed first). */
async function ledgerRowsRead(db: Db): Promise<number> {
  await db.$queryRaw`SELECT pg_stat_force_next_flush()`;
  const [row] = await db.$queryRaw<{ n: bigint }[]>`
    SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n FROM pg_stat_user_tables WHERE relname = 'credit_transactions'`;
  return Number(row!.n);
}

const pass = (db: Db = t.env.db) => runReconciliation({ ...t.deps, db });

let shop: ShopFixture;
beforeAll(async () => {
  shop = await createShop(t.env.db);
  await t.env.db.$executeRaw`
    INSERT INTO credit_transactions (shop_id, type, amount, balance_after, idempotency_key, ledger_seq)
    SELECT ${shop.id}::uuid, 'grant', 1, n, 'history-' || n, n FROM generate_series(1, ${HISTORY}::int) n`;
  await t.env.db.$executeRaw`UPDATE credit_wallets SET balance = ${HISTORY}, ledger_seq = ${HISTORY} WHERE shop_id = ${shop.id}::uuid`;
  await t.env.db.$executeRaw`ANALYZE credit_transactions`;
});

it('a pass reads only the ledger rows written since the last one, not the history', async () => {
  // One connection: the table's read counters of this backend are the pass's.
  const db = createDb({ ...t.env.config, DATABASE_POOL_SIZE: 1 });
  try {
    expect((await pass(db)).ledgerMismatches).toEqual([]);
    await grantCredits(t.env.db, shop.id, 5);
    await grantCredits(t.env.db, shop.id, 7);
    const before = await ledgerRowsRead(db);
    expect((await pass(db)).ledgerMismatches).toEqual([]);
    const read = (await ledgerRowsRead(db)) - before;
    expect(read).toBeLessThan(100);
  } finally {
    await db.$disconnect();
  }
});

it('finds a wallet changed by hand, on every pass until it is put back', async () => {
  await t.env.db.$executeRaw`UPDATE credit_wallets SET balance = balance + 5 WHERE shop_id = ${shop.id}::uuid`;
  const [w] = await t.env.db.$queryRaw<{ balance: bigint }[]>`SELECT balance FROM credit_wallets WHERE shop_id = ${shop.id}::uuid`;
  const expected = [{ shopId: shop.id, balance: Number(w!.balance), ledgerSum: Number(w!.balance) - 5, reserved: 0, activeReservations: 0 }];
  expect((await pass()).ledgerMismatches).toEqual(expected);
  expect((await pass()).ledgerMismatches).toEqual(expected);
  expect(await findLedgerMismatches(t.env.db)).toEqual(expected);
  await t.env.db.$executeRaw`UPDATE credit_wallets SET balance = balance - 5 WHERE shop_id = ${shop.id}::uuid`;
  expect((await pass()).ledgerMismatches).toEqual([]);
});

it('finds a ledger row written without its wallet change, one of the history changed or deleted by hand, and one written back into the gap', async () => {
  const mismatch = async (): Promise<{ balance: number; ledgerSum: number }[]> =>
    (await pass()).ledgerMismatches.map((m) => ({ balance: m.balance, ledgerSum: m.ledgerSum }));
  const [w] = await t.env.db.$queryRaw<{ balance: bigint; ledger_seq: bigint }[]>`SELECT balance, ledger_seq FROM credit_wallets WHERE shop_id = ${shop.id}::uuid`;
  const balance = Number(w!.balance);
  expect(await mismatch()).toEqual([]);

  await t.env.db.$executeRaw`
    INSERT INTO credit_transactions (shop_id, type, amount, balance_after, idempotency_key, ledger_seq)
    VALUES (${shop.id}::uuid, 'adjustment', 9, ${balance + 9}, 'by-hand', ${w!.ledger_seq + 1n})`;
  expect(await mismatch()).toEqual([{ balance, ledgerSum: balance + 9 }]);
  await t.env.db.$executeRaw`DELETE FROM credit_transactions WHERE shop_id = ${shop.id}::uuid AND idempotency_key = 'by-hand'`;
  expect(await mismatch()).toEqual([]);

  // Rows summed many passes ago.
  await t.env.db.$executeRaw`UPDATE credit_transactions SET amount = 3 WHERE shop_id = ${shop.id}::uuid AND ledger_seq = 10`;
  expect(await mismatch()).toEqual([{ balance, ledgerSum: balance + 2 }]);
  await t.env.db.$executeRaw`UPDATE credit_transactions SET amount = 1 WHERE shop_id = ${shop.id}::uuid AND ledger_seq = 10`;
  expect(await mismatch()).toEqual([]);

  await t.env.db.$executeRaw`DELETE FROM credit_transactions WHERE shop_id = ${shop.id}::uuid AND ledger_seq = 11`;
  expect(await mismatch()).toEqual([{ balance, ledgerSum: balance - 1 }]);
  // No checkpoint over the gap: a row written into it later is below none. The gap itself is reported.
  expect(await mismatch()).toEqual([{ balance, ledgerSum: balance - 1 }]);
  expect((await checkLedgerSinceCheckpoints(t.env.db)).gaps).toEqual([shop.id]);
  await t.env.db.$executeRaw`INSERT INTO credit_transactions (shop_id, type, amount, balance_after, idempotency_key, ledger_seq) VALUES (${shop.id}::uuid, 'grant', 1, 11, 'history-11', 11)`;
  expect(await mismatch()).toEqual([]);
});

it('a pass that read the ledger before a hand edit of its history committed does not keep the old sum: the next pass finds the edit', async () => {
  const other = await createShop(t.env.db, { credits: 40 });
  expect((await pass()).ledgerMismatches).toEqual([]);
  // A new row for the pass to move the checkpoint over, then an edit of an old one held open.
  await grantCredits(t.env.db, other.id, 2);
  const editor = new Client({ connectionString: t.env.config.DATABASE_URL });
  await editor.connect();
  try {
    await editor.query('BEGIN');
    await editor.query(`UPDATE credit_transactions SET amount = amount + 100 WHERE shop_id = $1 AND ledger_seq = 1`, [other.id]);
    // The pass's snapshot has the old amount (no mismatch yet); its checkpoint write waits on the edit's.
    const running = pass();
    await waitFor('the pass waits on the edit', async () => {
      const rows = await t.env.db.$queryRaw<{ n: bigint }[]>`
        SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%credit_ledger_checkpoints%'`;
      return Number(rows[0]!.n) > 0;
    });
    await editor.query('COMMIT');
    expect((await running).ledgerMismatches).toEqual([]);
  } finally {
    await editor.end();
  }
  expect((await pass()).ledgerMismatches).toEqual([{ shopId: other.id, balance: 42, ledgerSum: 142, reserved: 0, activeReservations: 0 }]);
  await t.env.db.$executeRaw`UPDATE credit_transactions SET amount = amount - 100 WHERE shop_id = ${other.id}::uuid AND ledger_seq = 1`;
  expect((await pass()).ledgerMismatches).toEqual([]);
});

it('a pass with more ledger to read than its budget compares the shops with least to read first and catches up with the rest over the next passes', async () => {
  // Every checkpoint voided (as after the deploy): each shop is read from its first row again.
  await t.env.db.$executeRaw`UPDATE credit_ledger_checkpoints SET ledger_seq = 0, ledger_sum = 0, generation = generation + 1`;
  await t.env.db.$executeRaw`UPDATE credit_wallets SET balance = balance + 1 WHERE shop_id = ${shop.id}::uuid`;
  const [w] = await t.env.db.$queryRaw<{ balance: bigint }[]>`SELECT balance FROM credit_wallets WHERE shop_id = ${shop.id}::uuid`;
  const checks = [];
  for (let i = 0; i < 10; i++) {
    const check = await checkLedgerSinceCheckpoints(t.env.db, { rowsPerPass: 8_000 });
    checks.push({ behind: check.behind, mismatches: check.mismatches.map((m) => m.shopId) });
    if (check.behind === 0) break;
  }
  // The big shop (20 000 rows and more) is read 8 000 rows a pass, the small ones at once; it is compared once caught up.
  expect(checks).toEqual([
    { behind: 1, mismatches: [] },
    { behind: 1, mismatches: [] },
    { behind: 0, mismatches: [shop.id] },
  ]);
  expect((await checkLedgerSinceCheckpoints(t.env.db)).mismatches).toEqual([
    { shopId: shop.id, balance: Number(w!.balance), ledgerSum: Number(w!.balance) - 1, reserved: 0, activeReservations: 0 },
  ]);
  await t.env.db.$executeRaw`UPDATE credit_wallets SET balance = balance - 1 WHERE shop_id = ${shop.id}::uuid`;
  expect(await checkLedgerSinceCheckpoints(t.env.db)).toEqual({ mismatches: [], gaps: [], behind: 0 });
});
