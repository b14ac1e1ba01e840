// What the reconciliation pass's ledger check costs as the ledger grows
// (docs/runbooks/credit-reconciliation.md, "How the pass checks"): the full
// sum it ran before (findLedgerMismatches, still `ops wallet:verify`) against
// the checkpointed one (findLedgerMismatchesSinceCheckpoints). Against a
// scratch database named by DATABASE_URL, migrated:
//   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/scratch npx tsx scripts/measure-ledger-check.ts [ledgerRows] [shops]
// Prints milliseconds and buffers touched per check.
import { performance } from 'node:perf_hooks';
import { createDb, type Db } from '../lib/db';
import { findLedgerMismatches } from '../domain/reconciliation/ledger-check';
import { checkLedgerSinceCheckpoints } from '../domain/reconciliation/ledger-checkpoints';

const ROWS = Number(process.argv[2] ?? 1_000_000);
const SHOPS = Number(process.argv[3] ?? 2_000);
// Reservations a shop has had (one per campaign), one of them still active.
const RESERVATIONS_PER_SHOP = 20;
const NEW_ROWS = 1_000;
const RUNS = 5;

async function timed(label: string, fn: () => Promise<unknown[]>, runs = RUNS): Promise<void> {
  const ms: number[] = [];
  let found = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    found = (await fn()).length;
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  console.log(`${label.padEnd(58)} median ${ms[Math.floor(ms.length / 2)]!.toFixed(1).padStart(8)} ms  (min ${ms[0]!.toFixed(1)}, max ${ms.at(-1)!.toFixed(1)})  mismatches ${found}`);
}

/** Ledger rows written as a wallet change writes them: the next ledger_seq, the wallet moved with it. */
async function writeNewRows(db: Db, n: number, tag: string): Promise<void> {
  await db.$executeRaw`
    WITH picked AS (
      SELECT shop_id, row_number() OVER (ORDER BY shop_id) AS k FROM credit_wallets ORDER BY shop_id LIMIT ${n}
    ), ins AS (
      INSERT INTO credit_transactions (shop_id, type, amount, balance_after, idempotency_key, ledger_seq)
      SELECT w.shop_id, 'grant', 1, w.balance + 1, ${tag} || '-' || p.k, w.ledger_seq + 1 FROM credit_wallets w JOIN picked p USING (shop_id)
      RETURNING shop_id
    )
    UPDATE credit_wallets w SET balance = balance + 1, ledger_seq = ledger_seq + 1 FROM ins WHERE w.shop_id = ins.shop_id`;
}

async function buffers(db: Db, sqlText: string): Promise<string> {
  const plan = await db.$queryRawUnsafe<{ 'QUERY PLAN': { Plan: { 'Shared Hit Blocks': number; 'Shared Read Blocks': number } }[] }[]>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sqlText}`);
  const p = plan[0]!['QUERY PLAN'][0]!.Plan;
  return `${p['Shared Hit Blocks'] + p['Shared Read Blocks']} buffers`;
}

async function main(): Promise<void> {
  const db = createDb({ DATABASE_URL: process.env.DATABASE_URL ?? '', DATABASE_POOL_SIZE: 2, DATABASE_STATEMENT_TIMEOUT_MS: 600_000 });
  const perShop = Math.ceil(ROWS / SHOPS);
  console.log(`seeding ${SHOPS} shops × ${perShop} ledger rows (${SHOPS * perShop}), ${RESERVATIONS_PER_SHOP} reservations each…`);
  // What an earlier run left (its shops hold nothing but money rows).
  await db.$executeRaw`DELETE FROM shops WHERE domain LIKE 'measure-%'`;
  await db.$executeRaw`
    INSERT INTO shops (domain, sender_id) SELECT 'measure-' || g || '.myshopify.com', 'Measure' FROM generate_series(1, ${SHOPS}::int) g`;
  await db.$executeRaw`
    INSERT INTO credit_transactions (shop_id, type, amount, balance_after, idempotency_key, ledger_seq)
    SELECT s.id, 'grant', 3, 3 * n, 'seed-' || n, n FROM shops s CROSS JOIN generate_series(1, ${perShop}::int) n WHERE s.domain LIKE 'measure-%'`;
  await db.$executeRaw`
    INSERT INTO credit_reservations (shop_id, reservation_key, amount, consumed, released, status)
    SELECT s.id, 'campaign-' || n, 10, CASE WHEN n = 1 THEN 0 ELSE 10 END, 0, CASE WHEN n = 1 THEN 'active' ELSE 'closed' END
      FROM shops s CROSS JOIN generate_series(1, ${RESERVATIONS_PER_SHOP}::int) n WHERE s.domain LIKE 'measure-%'`;
  await db.$executeRaw`INSERT INTO credit_wallets (shop_id, balance, reserved, ledger_seq) SELECT id, 3 * ${perShop}::int, 10, ${perShop}::int FROM shops WHERE domain LIKE 'measure-%'`;
  await db.$executeRawUnsafe('VACUUM ANALYZE credit_transactions, credit_wallets, credit_reservations, credit_ledger_checkpoints');
  const [size] = await db.$queryRaw<{ rows: bigint; bytes: string }[]>`
    SELECT (SELECT count(*) FROM credit_transactions) AS rows, pg_size_pretty(pg_total_relation_size('credit_transactions')) AS bytes`;
  console.log(`credit_transactions: ${size!.rows} rows, ${size!.bytes} with indexes\n`);

  const fullSql = `SELECT w.shop_id FROM credit_wallets w
      LEFT JOIN LATERAL (SELECT sum(amount) AS total FROM credit_transactions t WHERE t.shop_id = w.shop_id) l ON true
      LEFT JOIN LATERAL (SELECT sum(amount - consumed - released) AS total FROM credit_reservations r WHERE r.shop_id = w.shop_id AND r.status = 'active') r ON true
     WHERE w.balance <> coalesce(l.total, 0) OR w.reserved <> coalesce(r.total, 0)`;
  // As before this change's migration: no index of active reservations by shop (dropped in a transaction rolled back).
  await db
    .$transaction(async (tx) => {
      await tx.$executeRawUnsafe('DROP INDEX credit_reservations_active_shop_idx');
      await timed('before: full sum, schema as before (no active-reservation index)', () => findLedgerMismatches(tx));
      throw new Error('rollback');
    }, { timeout: 600_000 })
    .catch((err: unknown) => {
      if ((err as Error).message !== 'rollback') throw err;
    });
  await timed('before: full sum (every pass until now; ops wallet:verify)', () => findLedgerMismatches(db));
  console.log(`  ${await buffers(db, fullSql)}`);

  // No checkpoint yet (the first passes after the deploy): LEDGER_ROWS_PER_PASS rows each until every shop is caught up.
  for (let pass = 1; ; pass++) {
    const t0 = performance.now();
    const check = await checkLedgerSinceCheckpoints(db);
    console.log(`${`after: catching up, pass ${pass}`.padEnd(58)} ${(performance.now() - t0).toFixed(1).padStart(8)} ms  shops not yet compared ${check.behind}, mismatches ${check.mismatches.length}`);
    if (check.behind === 0) break;
  }
  await timed('after: a pass with no new ledger row', async () => (await checkLedgerSinceCheckpoints(db)).mismatches);
  for (let i = 0; i < RUNS; i++) {
    await writeNewRows(db, NEW_ROWS, `new-${i}`);
    await timed(`after: a pass after ${NEW_ROWS} new ledger rows`, async () => (await checkLedgerSinceCheckpoints(db)).mismatches, 1);
  }
  await timed('before, same ledger + new rows: full sum', () => findLedgerMismatches(db));
  await db.$executeRaw`UPDATE credit_wallets SET balance = balance + 1 WHERE shop_id = (SELECT min(shop_id::text)::uuid FROM credit_wallets)`;
  await timed('after: a wallet changed by hand (found)', async () => (await checkLedgerSinceCheckpoints(db)).mismatches);

  // The migration's one-off cost: validating CHECK (ledger_seq > 0) scans the table under its lock.
  await db
    .$transaction(async (tx) => {
      await tx.$executeRawUnsafe('ALTER TABLE credit_transactions DROP CONSTRAINT credit_transactions_ledger_seq_check');
      const t0 = performance.now();
      await tx.$executeRawUnsafe('ALTER TABLE credit_transactions ADD CONSTRAINT credit_transactions_ledger_seq_check CHECK (ledger_seq > 0)');
      console.log(`${'migration: CHECK (ledger_seq > 0) added'.padEnd(58)} ${(performance.now() - t0).toFixed(1).padStart(8)} ms`);
      throw new Error('rollback');
    }, { timeout: 600_000 })
    .catch((err: unknown) => {
      if ((err as Error).message !== 'rollback') throw err;
    });
  await db.$disconnect();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
