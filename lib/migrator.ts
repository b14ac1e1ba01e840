import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from 'pg';

// Applies prisma/migrations/<ts>_<name>/migration.sql in order and records them
// in _prisma_migrations exactly as Prisma does (sha256 checksum of the file,
// finished_at, applied_steps_count), so `prisma migrate deploy` agrees elsewhere.
// Prisma's schema engine cannot be downloaded here, hence this runner.

// Next to lib/ in the source tree, two levels up from dist/lib in a build.
export const MIGRATIONS_DIR = [path.resolve(__dirname, '..', 'prisma', 'migrations'), path.resolve(__dirname, '..', '..', 'prisma', 'migrations')].find((dir) =>
  existsSync(dir),
) ?? path.resolve(__dirname, '..', 'prisma', 'migrations');
const LOCK_KEY = 72_707_369; // advisory lock id shared by every runner

export interface MigrationFile {
  name: string;
  checksum: string;
  sql: string;
}

export interface MigrationStatus {
  applied: string[];
  pending: string[];
  changed: string[];
}

export class MigrationChecksumError extends Error {
  constructor(readonly changed: string[]) {
    super(`Applied migration(s) changed on disk: ${changed.join(', ')}. Write a new migration instead of editing one.`);
    this.name = 'MigrationChecksumError';
  }
}

export async function readMigrationFiles(dir = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory() && /^\d{14}_[a-z0-9_]+$/.test(e.name)).map((e) => e.name).sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

const CREATE_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                  VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"            VARCHAR(64) NOT NULL,
    "finished_at"         TIMESTAMPTZ,
    "migration_name"      VARCHAR(255) NOT NULL,
    "logs"                TEXT,
    "rolled_back_at"      TIMESTAMPTZ,
    "started_at"          TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

async function appliedRows(client: Client): Promise<Map<string, string>> {
  const exists = await client.query<{ t: string | null }>(`SELECT to_regclass('"_prisma_migrations"')::text AS t`);
  if (!exists.rows[0]?.t) return new Map();
  const res = await client.query<{ migration_name: string; checksum: string }>(
    `SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
  );
  return new Map(res.rows.map((r) => [r.migration_name, r.checksum]));
}

function compare(files: MigrationFile[], applied: Map<string, string>): MigrationStatus {
  const changed = files.filter((f) => applied.has(f.name) && applied.get(f.name) !== f.checksum).map((f) => f.name);
  return {
    applied: files.filter((f) => applied.has(f.name)).map((f) => f.name),
    pending: files.filter((f) => !applied.has(f.name)).map((f) => f.name),
    changed,
  };
}

export async function migrationStatus(databaseUrl: string, dir = MIGRATIONS_DIR): Promise<MigrationStatus> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return compare(await readMigrationFiles(dir), await appliedRows(client));
  } finally {
    await client.end();
  }
}

/** Status against an already-open client (the health check's path). */
export async function migrationStatusWith(client: Pick<Client, 'query'>, files: MigrationFile[]): Promise<MigrationStatus> {
  return compare(files, await appliedRows(client as Client));
}

export interface MigrateResult {
  applied: string[];
  skipped: number;
}

/**
 * Applies pending migrations. Safe to run concurrently: an advisory lock
 * serialises runners, and each re-reads what is applied once it holds the lock.
 */
export async function migrate(databaseUrl: string, opts: { dir?: string; log?: (line: string) => void } = {}): Promise<MigrateResult> {
  const files = await readMigrationFiles(opts.dir);
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    try {
      await client.query(CREATE_TABLE);
      const status = compare(files, await appliedRows(client));
      if (status.changed.length > 0) throw new MigrationChecksumError(status.changed);
      const applied: string[] = [];
      for (const file of files.filter((f) => status.pending.includes(f.name))) {
        await client.query('BEGIN');
        try {
          const id = randomUUID();
          await client.query(
            `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)`,
            [id, file.checksum, file.name],
          );
          await client.query(file.sql);
          await client.query(`UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1`, [id]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw new Error(`Migration ${file.name} failed: ${(err as Error).message}`, { cause: err });
        }
        applied.push(file.name);
        opts.log?.(`applied ${file.name}`);
      }
      return { applied, skipped: files.length - applied.length };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    await client.end();
  }
}

/** Creates the database named in the URL when it does not exist (local set-up and tests). */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`Refusing to create database with unusual name: ${name}`);
  url.pathname = '/postgres';
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount) return false;
    try {
      await client.query(`CREATE DATABASE "${name}"`);
    } catch (err) {
      if ((err as { code?: string }).code !== '42P04') throw err; // created concurrently
      return false;
    }
    return true;
  } finally {
    await client.end();
  }
}
