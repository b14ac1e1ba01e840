import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** Builds apps/admin when its sources changed (a directory walk otherwise); several test files may call it at once. */
export function ensureAdminBuilt(): void {
  execFileSync(process.execPath, [join(__dirname, '..', 'scripts', 'build-admin.mjs')], { stdio: 'inherit' });
}
