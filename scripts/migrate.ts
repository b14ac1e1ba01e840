import { ensureDatabase, migrate, migrationStatus, MigrationChecksumError } from '../lib/migrator';
import { loadConfigOrExit } from '../lib/config';

// `npm run db:migrate` — create the database if missing, apply pending
// migrations. `--status` prints applied/pending and exits 1 if any is pending.
async function main(): Promise<void> {
  const config = loadConfigOrExit();
  if (process.argv.includes('--status')) {
    const s = await migrationStatus(config.DATABASE_URL);
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    process.exit(s.pending.length || s.changed.length ? 1 : 0);
  }
  if (await ensureDatabase(config.DATABASE_URL)) process.stdout.write('created database\n');
  const res = await migrate(config.DATABASE_URL, { log: (l) => process.stdout.write(`${l}\n`) });
  process.stdout.write(`migrations: ${res.applied.length} applied, ${res.skipped} already applied\n`);
}

main().catch((err: unknown) => {
  if (err instanceof MigrationChecksumError) process.stderr.write(`${err.message}\n`);
  else process.stderr.write(`migrate failed: ${(err as Error).message}\n`);
  process.exit(1);
});
