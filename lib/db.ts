import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient, Prisma } from '../generated/prisma/client';
import type { Config } from './config';

export type Db = PrismaClient;
export { PrismaClient, Prisma };

// Engine-free Prisma 7 client over node-postgres. The pool and the statement
// timeout are bounded so a slow query cannot hold the process hostage.
export function createDb(config: Pick<Config, 'DATABASE_URL' | 'DATABASE_POOL_SIZE' | 'DATABASE_STATEMENT_TIMEOUT_MS'>): Db {
  const adapter = new PrismaPg({
    connectionString: config.DATABASE_URL,
    max: config.DATABASE_POOL_SIZE,
    connectionTimeoutMillis: 3_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: config.DATABASE_STATEMENT_TIMEOUT_MS,
    application_name: process.env.SERVICE_NAME ?? 'sms',
  });
  return new PrismaClient({ adapter });
}

/** True for errors that mean "Postgres is unreachable" rather than a bad query. */
export function isDbUnavailableError(err: unknown): boolean {
  const seen = new Set<unknown>();
  let cur: unknown = err;
  while (cur && typeof cur === 'object' && !seen.has(cur)) {
    seen.add(cur);
    const e = cur as { code?: unknown; message?: unknown; cause?: unknown; name?: unknown };
    const code = typeof e.code === 'string' ? e.code : '';
    // P2024/P2028: no pool connection or transaction slot in time — overload, not a bad request.
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'P1001', 'P1002', 'P1017', 'P2024', 'P2028', '57P01', '57P03', '08006', '08001', '08003'].includes(code)) {
      return true;
    }
    const msg = typeof e.message === 'string' ? e.message : '';
    if (/ECONNREFUSED|Connection terminated|timeout exceeded when trying to connect|Can't reach database|DatabaseNotReachable|the database system is (starting up|shutting down)|terminating connection|Unable to start a transaction in the given time/i.test(msg)) {
      return true;
    }
    if (e.name === 'DriverAdapterError' && /ConnectionClosed|DatabaseNotReachable|SocketTimeout/i.test(String((e as { cause?: { kind?: unknown } }).cause?.kind ?? ''))) {
      return true;
    }
    cur = e.cause;
  }
  return false;
}

/** A client or an open transaction: domain functions accept either. */
export type Tx = Prisma.TransactionClient;
export type DbOrTx = Db | Tx;
