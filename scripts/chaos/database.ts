// Every scenario runs against a freshly migrated database of its own, so
// "every shop's ledger equals its wallet" means exactly the scenario's shops,
// and a failed run leaves nothing in the developer's database.

import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { ensureDatabase, migrate } from '../../lib/migrator';
import { onTeardown } from './cleanup';

const PREFIX = 'sms_chaos_';

function withPath(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function withAdmin<T>(serverUrl: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: withPath(serverUrl, 'postgres'), connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface ChaosDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** Creates and migrates `sms_chaos_<epoch>_<hex>` on the server of `serverUrl`; dropped on teardown. */
export async function createChaosDatabase(serverUrl: string): Promise<ChaosDatabase> {
  // The creation time in the name lets a later run drop what a killed run left.
  const name = `${PREFIX}${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString('hex')}`;
  const url = withPath(serverUrl, name);
  await ensureDatabase(url);
  // CHAOS_KEEP_DB=1 keeps it for a post-mortem (the next run older than an hour drops it).
  const keep = process.env.CHAOS_KEEP_DB === '1';
  const drop = onTeardown(`drop database ${name}`, async () => {
    if (keep) return;
    await withAdmin(serverUrl, async (c) => {
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    });
  });
  await migrate(url);
  return { name, url, drop };
}

/** Drops chaos databases older than an hour (a run killed with SIGKILL cannot drop its own). */
export async function dropStaleChaosDatabases(serverUrl: string): Promise<number> {
  return withAdmin(serverUrl, async (c) => {
    const cutoff = Math.floor(Date.now() / 1000) - 3600;
    const stale = await c.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname ~ '^${PREFIX}[0-9]+_' AND split_part(datname, '_', 3)::bigint < $1`,
      [cutoff],
    );
    for (const row of stale.rows) await c.query(`DROP DATABASE IF EXISTS "${row.datname}" WITH (FORCE)`).catch(() => undefined);
    return stale.rows.length;
  });
}
