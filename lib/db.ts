import { Pool, types as pgTypes, type PoolClient, type QueryResult } from 'pg';
import { Sql, empty, join, raw, sql } from '@prisma/client-runtime-utils';
import type { Config } from './config';
import { pgArrayLiteral } from './pg-array-literal';

export { Sql, empty, join, raw, sql };

/**
 * The raw-SQL surface every domain function is written against (the names
 * Prisma gives it). Prisma stays the schema of record and the migration
 * layout, but the code never used its query builder, and running raw SQL
 * through the Prisma 7 client cost ~3× the CPU of node-postgres (228 µs vs
 * 86 µs per statement, 684 µs vs 227 µs for a two-statement transaction,
 * docs/performance.md): on a 2-core box that was most of an enqueue. So
 * statements go to a bounded `pg` pool directly.
 */
export interface Tx {
  $queryRaw<T = unknown>(query: TemplateStringsArray | Sql, ...values: unknown[]): Promise<T>;
  $executeRaw(query: TemplateStringsArray | Sql, ...values: unknown[]): Promise<number>;
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
}

export interface TransactionOptions {
  /** The transaction is rolled back once it has been open this long (default 5 s). */
  timeout?: number;
}

export interface Db extends Tx {
  /** One transaction: committed when `fn` resolves, rolled back when it throws. */
  $transaction<T>(fn: (tx: Tx) => Promise<T>, options?: TransactionOptions): Promise<T>;
  $disconnect(): Promise<void>;
  readonly pool: Pool;
}

/** A client or an open transaction: domain functions accept either. */
export type DbOrTx = Db | Tx;

const DEFAULT_TX_TIMEOUT_MS = 5_000;

/**
 * Result types as the code expects them: int8 (counts, sums cast to bigint,
 * credit amounts) as BigInt, never a lossy number or a string.
 */
const INT8 = 20;
const INT8_ARRAY = 1016;
const parseInt8Array = pgTypes.getTypeParser(INT8_ARRAY as never) as unknown as (v: string) => (string | null)[];
const typeParsers: Record<number, (value: string) => unknown> = {
  [INT8]: (v) => BigInt(v),
  [INT8_ARRAY]: (v) => parseInt8Array(v).map((x) => (x === null ? null : BigInt(x))),
};
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => typeParsers[oid] ?? pgTypes.getTypeParser(oid, format)) as typeof pgTypes.getTypeParser,
};

export interface LocalSettings {
  /**
   * The commit does not wait for the WAL flush. Only for a transaction that
   * records what already happened elsewhere (a settle after the provider
   * accepted, a delivery-report pass): lost with a Postgres crash, its writes
   * vanish together and are redone from what is left (a claim's lease runs
   * out, a report is still `received`), which guarded, keyed writes make
   * harmless. Such transactions take the shop's wallet lock, held then for
   * microseconds rather than a disk flush.
   */
  asyncCommit?: boolean;
  /**
   * Rows are read through indexes only: statistics can lag far behind a
   * table (a million recipients inserted since the last ANALYZE), and the
   * planner would then rather hash the whole table than probe a thousand keys.
   */
  indexReadsOnly?: boolean;
}

/** Applies `LocalSettings` to the rest of a transaction, in one round trip. */
export async function setLocal(tx: Tx, s: LocalSettings): Promise<void> {
  const sql = [s.asyncCommit ? 'SET LOCAL synchronous_commit = off' : '', s.indexReadsOnly ? 'SET LOCAL enable_seqscan = off' : ''].filter(Boolean).join('; ');
  if (sql) await tx.$executeRawUnsafe(sql);
}

/**
 * Runs one statement of a transaction with nested loops off, then turns them
 * back on for the statements after it. For a statement that joins a batch of
 * inputs (unnest of ~1 000 ids) to the rows they name: with statistics taken
 * when nearly every row was final, the planner expects one matching row and
 * loops the inputs over each row it finds (seconds per statement, measured);
 * hashing the inputs is linear whatever the statistics say.
 */
export async function withoutNestedLoops<T>(tx: Tx, statement: () => Promise<T>): Promise<T> {
  await tx.$executeRawUnsafe('SET LOCAL enable_nestloop = off');
  const result = await statement();
  await tx.$executeRawUnsafe('SET LOCAL enable_nestloop = on');
  return result;
}

/** Thrown for a statement issued after its transaction timed out; maps to 503 like a pool timeout. */
export class TransactionExpiredError extends Error {
  readonly code = 'P2028';
  constructor(ms: number) {
    super(`Transaction already closed: it ran longer than its ${ms} ms timeout and was rolled back`);
    this.name = 'TransactionExpiredError';
  }
}

interface Query {
  text: string;
  values: unknown[];
  /** Set for a prepared statement (parsed once per connection, its plan cached by Postgres). */
  name?: string;
}
type Exec = (q: Query) => Promise<QueryResult>;

/**
 * Statements written as templates have a fixed text, so each is prepared
 * once per connection and Postgres may keep a generic plan: 3× less server
 * CPU for a typical point query (154 µs → 52 µs measured here) and less on
 * our side too. Texts assembled at run time (`$queryRawUnsafe`) stay unnamed,
 * and so does everything past a bound on distinct texts (fragments such as
 * `join` of a varying number of values would otherwise grow it without end).
 */
const MAX_PREPARED_TEXTS = 2_000;
const statementNames = new Map<string, string>();

function nameFor(text: string): string | undefined {
  let name = statementNames.get(text);
  if (name === undefined && statementNames.size < MAX_PREPARED_TEXTS) {
    name = `s${statementNames.size + 1}`;
    statementNames.set(text, name);
  }
  return name;
}

function toQuery(query: TemplateStringsArray | Sql, values: unknown[]): Query {
  const s = query instanceof Sql ? query : new Sql(query, values as never[]);
  const text = s.text;
  return { text, values: s.values.map((v) => (Array.isArray(v) ? (pgArrayLiteral(v) ?? v) : v)), name: nameFor(text) };
}

function runner(exec: Exec): Tx {
  return {
    async $queryRaw<T>(query: TemplateStringsArray | Sql, ...values: unknown[]): Promise<T> {
      return (await exec(toQuery(query, values))).rows as T;
    },
    async $executeRaw(query: TemplateStringsArray | Sql, ...values: unknown[]): Promise<number> {
      return (await exec(toQuery(query, values))).rowCount ?? 0;
    },
    async $queryRawUnsafe<T>(text: string, ...values: unknown[]): Promise<T> {
      return (await exec({ text, values })).rows as T;
    },
    async $executeRawUnsafe(text: string, ...values: unknown[]): Promise<number> {
      return (await exec({ text, values })).rowCount ?? 0;
    },
  };
}

// The pool and the statement timeout are bounded so a slow query cannot hold
// the process hostage; waiting for a connection is bounded too (then 503).
export function createDb(config: Pick<Config, 'DATABASE_URL' | 'DATABASE_POOL_SIZE' | 'DATABASE_STATEMENT_TIMEOUT_MS'>): Db {
  const pool = new Pool({
    connectionString: config.DATABASE_URL,
    max: config.DATABASE_POOL_SIZE,
    connectionTimeoutMillis: 3_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: config.DATABASE_STATEMENT_TIMEOUT_MS,
    // No JIT: every statement here is short, and the planner hints of the hot
    // paths (SET LOCAL enable_seqscan/enable_nestloop = off) price what they
    // forbid at 1e10, past jit_above_cost, so a 20 ms settle spent 2–3 s
    // compiling 40 functions (measured with auto_explain in the bench).
    options: '-c jit=off',
    application_name: process.env.SERVICE_NAME ?? 'sms',
    types,
  });
  // An idle connection dropped by the server (restart, failover) must not
  // crash the process: the pool discards it and the next query reconnects.
  pool.on('error', () => undefined);

  const base = runner((q) => pool.query(q));
  return {
    ...base,
    pool,
    $transaction: (fn, options) => transaction(pool, fn, options?.timeout ?? DEFAULT_TX_TIMEOUT_MS),
    $disconnect: () => pool.end(),
  };
}

async function transaction<T>(pool: Pool, fn: (tx: Tx) => Promise<T>, timeoutMs: number): Promise<T> {
  const client: PoolClient = await pool.connect();
  let expired = false;
  let broken: Error | undefined;
  // A connection that drops while it is checked out and between statements
  // (the server restarted while we awaited something else) emits 'error' on
  // the client, which the pool only listens to while the client is idle: an
  // unheard 'error' would end the process. Remember it; the next statement
  // fails on the dead connection, and the client is discarded on release.
  const onError = (err: Error): void => {
    broken ??= err;
  };
  client.on('error', onError);
  const timer = setTimeout(() => {
    expired = true;
  }, timeoutMs);
  try {
    await client.query('BEGIN');
    const tx = runner((q) => {
      if (expired) return Promise.reject(new TransactionExpiredError(timeoutMs));
      return client.query(q);
    });
    let result: T;
    try {
      result = await fn(tx);
      if (expired) throw new TransactionExpiredError(timeoutMs);
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => {
        broken = e;
      });
      throw err;
    }
    await client.query('COMMIT');
    return result;
  } catch (err) {
    // A connection that failed mid-transaction is not trusted again.
    if (!broken && isDbUnavailableError(err)) broken = err as Error;
    throw err;
  } finally {
    clearTimeout(timer);
    client.off('error', onError);
    client.release(broken);
  }
}

/** True for errors that mean "Postgres is unreachable" rather than a bad query. */
export function isDbUnavailableError(err: unknown): boolean {
  const seen = new Set<unknown>();
  let cur: unknown = err;
  while (cur && typeof cur === 'object' && !seen.has(cur)) {
    seen.add(cur);
    const e = cur as { code?: unknown; message?: unknown; cause?: unknown; name?: unknown };
    const code = typeof e.code === 'string' ? e.code : '';
    // P2028: a transaction that outlived its timeout — overload, not a bad request.
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EPIPE', 'P2028', '57P01', '57P02', '57P03', '08006', '08001', '08003'].includes(code)) {
      return true;
    }
    const msg = typeof e.message === 'string' ? e.message : '';
    if (/ECONNREFUSED|Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down|in recovery mode)|terminating connection/i.test(msg)) {
      return true;
    }
    cur = e.cause;
  }
  return false;
}
