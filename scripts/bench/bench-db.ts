// The benchmark's own database (default `sms_bench` next to DATABASE_URL's):
// migrated like any other, campaign-side tables emptied at the start of each
// run so storage growth is measured from nothing, and audiences (shops with
// N sendable contacts) seeded once with set-based SQL and kept between runs.

import { Pool, type PoolClient } from 'pg';
import { ensureDatabase, migrate } from '../../lib/migrator';

/** The bench's own connections: its CPU meter counts their backends apart from the product's (meter.ts). */
export const BENCH_APPLICATION_NAME = 'bench';

export interface BenchDb {
  url: string;
  name: string;
  pool: Pool;
  close(): Promise<void>;
}

export function benchDatabaseUrl(base: string, name: string): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function openBenchDb(baseUrl: string, name: string, opts: { fresh: boolean }): Promise<BenchDb> {
  const url = benchDatabaseUrl(baseUrl, name);
  if (opts.fresh) {
    const admin = new Pool({ connectionString: benchDatabaseUrl(baseUrl, 'postgres'), max: 1 });
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
  await ensureDatabase(url);
  await migrate(url);
  const pool = new Pool({ connectionString: url, max: 12, application_name: BENCH_APPLICATION_NAME });
  return { url, name, pool, close: () => pool.end() };
}

/**
 * Everything a run writes, so it starts from empty tables (contacts and shops
 * stay: seeding a million contacts is not what is measured).
 */
export async function resetRunTables(db: BenchDb): Promise<void> {
  await db.pool.query(`TRUNCATE campaigns, campaign_batches, campaign_recipients, credit_reservations, credit_transactions,
    webhook_events, delivery_report_keys, outbox_events, idempotency_keys, purchases RESTART IDENTITY CASCADE`);
  await db.pool.query('UPDATE credit_wallets SET balance = 0, reserved = 0, ledger_seq = 0');
  await db.pool.query('VACUUM ANALYZE campaign_recipients, campaign_batches, webhook_events, credit_transactions');
}

/**
 * What autovacuum does between two campaigns in production, for the one
 * table every run rewrites in full and nothing empties: the contacts' send
 * slots (every message takes its contact's slot, cap on or off). This
 * machine's Postgres runs with `autovacuum = off` (its configuration file):
 * after four 1 M runs contact_send_slots held 2.1 M live and 4.2 M dead
 * tuples (671 MB), and each run's Postgres CPU grew on the bloat (90 → 118 s
 * per 1 M). VACUUM only: vacuuming or analyzing the run tables right after
 * the 1 000-recipient warm-up made the next 100 000 run's batch claims time
 * out (statistics of a tiny table); those are emptied when the bench starts.
 */
export async function vacuumRunTables(db: BenchDb): Promise<void> {
  await db.pool.query('VACUUM contact_send_slots');
}

export interface Audience {
  shopId: string;
  domain: string;
  contacts: number;
}

export const audienceDomain = (size: number): string => `bench-a${size}.myshopify.com`;

/** +1 201 000 0000 onwards: the reports-off scenarios' numbers (development mode, no legal quiet-hours floor). */
const US_FIRST_NUMBER = 12010000000;
/**
 * The production-mode audiences (scenarios/settled.ts): UK mobile numbers
 * (+44 7400 000000 onwards), because production keeps the US/Canadian
 * 08:00–21:00 floor on (SMS_QUIET_HOURS_FLOOR) and a benchmark must not
 * depend on the hour it runs at; their shops have no quiet hours.
 */
export const PRODUCTION_FIRST_NUMBER = 447400000000;
export const productionAudienceDomain = (size: number): string => `bench-p${size}.myshopify.com`;

/**
 * A shop with exactly `size` sendable contacts tagged `bench` (phones and
 * names deterministic; names of varying length so messages are 1 or 2
 * segments). The shop row itself is provisioned by the API's first call.
 */
export async function ensureAudience(
  db: BenchDb,
  shopId: string,
  size: number,
  log: (l: string) => void,
  o: { domain?: string; firstNumber?: number } = {},
): Promise<Audience> {
  const domain = o.domain ?? audienceDomain(size);
  const { rows } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM contacts WHERE shop_id = $1', [shopId]);
  const have = Number(rows[0]?.n ?? 0);
  if (have !== size) {
    const t0 = Date.now();
    await db.pool.query('DELETE FROM contacts WHERE shop_id = $1', [shopId]);
    // One set-based statement, like an import would leave them.
    await db.pool.query(
      `INSERT INTO contacts (shop_id, phone_e164, phone_hash, first_name, last_name, sms_consent, tags)
       SELECT $1::uuid, p, encode(sha256(p::bytea), 'hex'), (ARRAY['Ada','Grace','Linus','Margaret','Alan','Barbara'])[1 + g % 6], 'Bench', 'subscribed', ARRAY['bench']
         FROM generate_series(0, $2::int - 1) g, LATERAL (SELECT '+' || ($3::bigint + g)::text AS p) x`,
      [shopId, size, o.firstNumber ?? US_FIRST_NUMBER],
    );
    await db.pool.query('VACUUM ANALYZE contacts');
    log(`seeded ${size.toLocaleString('en-US')} contacts for ${domain} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  return { shopId, domain, contacts: size };
}

/** Grants credits as a ledger entry plus wallet update (the one way a balance changes). */
export async function grantCredits(db: BenchDb, shopId: string, credits: number, key: string): Promise<void> {
  await withTx(db, async (c) => {
    await c.query('INSERT INTO credit_wallets (shop_id) VALUES ($1) ON CONFLICT (shop_id) DO NOTHING', [shopId]);
    const { rows } = await c.query<{ balance: string; ledger_seq: string }>('SELECT balance, ledger_seq FROM credit_wallets WHERE shop_id = $1 FOR UPDATE', [shopId]);
    const after = BigInt(rows[0]?.balance ?? '0') + BigInt(credits);
    const seq = BigInt(rows[0]?.ledger_seq ?? '0') + 1n;
    const ins = await c.query(
      `INSERT INTO credit_transactions (shop_id, type, amount, balance_after, idempotency_key, reference, ledger_seq)
       VALUES ($1, 'grant', $2, $3, $4, 'bench', $5) ON CONFLICT (shop_id, idempotency_key) DO NOTHING`,
      [shopId, credits, after.toString(), key, seq.toString()],
    );
    if (ins.rowCount === 1) await c.query('UPDATE credit_wallets SET balance = $2, ledger_seq = $3 WHERE shop_id = $1', [shopId, after.toString(), seq.toString()]);
  });
}

export async function withTx<T>(db: BenchDb, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  const c = await db.pool.connect();
  try {
    await c.query('BEGIN');
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}

/** Bytes of a table with its indexes and TOAST. */
export async function relationBytes(db: BenchDb, tables: string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of tables) {
    const { rows } = await db.pool.query<{ b: string }>('SELECT pg_total_relation_size($1::regclass) AS b', [t]);
    out[t] = Number(rows[0]?.b ?? 0);
  }
  return out;
}

/**
 * Settles what earlier scenarios left behind before a latency scenario: the
 * tables it writes are vacuumed (this server runs without autovacuum, which
 * a production server would not: a 1 M send and 30 000 delivery reports
 * leave dead row versions that every later scan would step over), then a
 * CHECKPOINT flushes what is dirty (a 1 M seed or send writes ~1 GB of WAL)
 * so the scenario does not measure the previous one's flush. Reports whether
 * the CHECKPOINT could run: it needs a superuser or pg_checkpoint, which a
 * bench database user may not have.
 */
export async function settleServer(db: BenchDb, vacuum: string[] = []): Promise<boolean> {
  if (vacuum.length > 0) await db.pool.query(`VACUUM (ANALYZE) ${vacuum.map((t) => `"${t.replace(/"/g, '')}"`).join(', ')}`);
  try {
    await db.pool.query('CHECKPOINT');
    return true;
  } catch {
    return false;
  }
}
