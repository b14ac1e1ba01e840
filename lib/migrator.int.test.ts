import { mkdtemp, mkdir, writeFile, cp } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { databaseUrl, dropTestDatabase } from '../test/db';
import { ensureDatabase, migrate, migrationStatus, MigrationChecksumError, MIGRATIONS_DIR } from './migrator';

// The runner against real, empty databases (not the template): first run
// applies, second is a no-op, concurrent runs apply each migration once, and
// an applied migration whose file changed is refused.

const created: string[] = [];
async function freshDb(): Promise<string> {
  const name = `sms_test_mig_${Math.random().toString(16).slice(2, 10)}`;
  created.push(name);
  await ensureDatabase(databaseUrl(name));
  return databaseUrl(name);
}

async function scratchMigrations(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'migs-'));
  await mkdir(path.join(dir, '20260101000000_one'));
  await writeFile(path.join(dir, '20260101000000_one', 'migration.sql'), 'CREATE TABLE one (id int primary key);');
  await mkdir(path.join(dir, '20260102000000_two'));
  await writeFile(path.join(dir, '20260102000000_two', 'migration.sql'), 'CREATE TABLE two (id int primary key);');
  return dir;
}

async function rows(url: string): Promise<{ migration_name: string; checksum: string; finished_at: Date | null; applied_steps_count: number }[]> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query('SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations" ORDER BY migration_name')).rows;
  } finally {
    await c.end();
  }
}

afterAll(async () => {
  for (const name of created) await dropTestDatabase(name);
});

it('applies the project migrations, recording them as Prisma does; a second run is a no-op', async () => {
  const url = await freshDb();
  const first = await migrate(url);
  expect(first.applied.length).toBeGreaterThan(0);
  const recorded = await rows(url);
  expect(recorded.map((r) => r.migration_name)).toEqual(first.applied);
  for (const r of recorded) {
    expect(r.finished_at).not.toBeNull();
    expect(r.applied_steps_count).toBe(1);
    expect(r.checksum).toMatch(/^[0-9a-f]{64}$/);
  }
  const second = await migrate(url);
  expect(second).toEqual({ applied: [], skipped: first.applied.length });
  expect(await rows(url)).toHaveLength(recorded.length);
  expect(await migrationStatus(url)).toEqual({ applied: first.applied, pending: [], changed: [] });
});

it('records the sha256 of the file as the checksum', async () => {
  const dir = await scratchMigrations();
  const url = await freshDb();
  await migrate(url, { dir });
  const sql = 'CREATE TABLE one (id int primary key);';
  expect((await rows(url))[0]?.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
});

it('is safe when several runners start at once: each migration is applied exactly once', async () => {
  const dir = await scratchMigrations();
  const url = await freshDb();
  const results = await Promise.all([1, 2, 3, 4].map(() => migrate(url, { dir })));
  expect(results.reduce((n, r) => n + r.applied.length, 0)).toBe(2);
  expect((await rows(url)).map((r) => r.migration_name)).toEqual(['20260101000000_one', '20260102000000_two']);
});

it('refuses to run when an applied migration file has changed', async () => {
  const dir = await scratchMigrations();
  const url = await freshDb();
  await migrate(url, { dir });
  await writeFile(path.join(dir, '20260101000000_one', 'migration.sql'), 'CREATE TABLE one (id bigint primary key);');
  await expect(migrate(url, { dir })).rejects.toBeInstanceOf(MigrationChecksumError);
  expect((await migrationStatus(url, dir)).changed).toEqual(['20260101000000_one']);
});

it('rolls back a failing migration entirely and records nothing for it', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'migs-'));
  await cp(path.join(MIGRATIONS_DIR, '..', 'migrations', 'migration_lock.toml'), path.join(dir, 'migration_lock.toml')).catch(() => undefined);
  await mkdir(path.join(dir, '20260101000000_bad'));
  await writeFile(path.join(dir, '20260101000000_bad', 'migration.sql'), 'CREATE TABLE half (id int); SELECT no_such_function();');
  const url = await freshDb();
  await expect(migrate(url, { dir })).rejects.toThrow(/20260101000000_bad failed/);
  expect(await rows(url)).toEqual([]);
  const c = new Client({ connectionString: url });
  await c.connect();
  const t = await c.query(`SELECT to_regclass('half')::text AS t`);
  await c.end();
  expect(t.rows[0].t).toBeNull();
});
