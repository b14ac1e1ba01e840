import { createHash, randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { migrate, readMigrationFiles } from '../lib/migrator';
import { adminUrl, databaseUrl } from './db';

// Builds the migrated template database once per set of migrations: its name
// carries their checksum, so a changed migration gets a fresh template and
// concurrent test runs (two terminals, CI) never drop each other's template.
export default async function globalSetup(): Promise<void> {
  const files = await readMigrationFiles();
  const digest = createHash('sha256').update(files.map((f) => f.checksum).join(',')).digest('hex').slice(0, 12);
  const template = `sms_tpl_${digest}`;
  process.env.TEST_TEMPLATE_DB = template;

  const client = new Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    // Leftovers of crashed runs: test databases (named sms_test_<epoch>_…) older
    // than an hour. Younger ones may belong to a run in progress elsewhere.
    const cutoff = Math.floor(Date.now() / 1000) - 3600;
    const stale = await client.query<{ datname: string }>(
      `SELECT datname FROM pg_database WHERE datname ~ '^sms_test_[0-9]+_' AND split_part(datname, '_', 3)::bigint < $1`, [cutoff]);
    for (const row of stale.rows) await client.query(`DROP DATABASE IF EXISTS "${row.datname}" WITH (FORCE)`).catch(() => undefined);
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
    if (exists.rowCount) return;
    const building = `sms_tplbuild_${randomBytes(4).toString('hex')}`;
    await client.query(`CREATE DATABASE "${building}"`);
    await migrate(databaseUrl(building));
    try {
      await client.query(`ALTER DATABASE "${building}" RENAME TO "${template}"`);
    } catch (err) {
      // Another run built the same template first: ours is redundant.
      await client.query(`DROP DATABASE IF EXISTS "${building}"`);
      if ((err as { code?: string }).code !== '42P04') throw err;
    }
  } finally {
    await client.end();
  }
}
