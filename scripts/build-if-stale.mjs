// Runs before `npm run start:*` (their pre-scripts): the start scripts run the
// compiled dist/, so a checkout whose sources are newer than its build (or
// that was never built) is built first with `npm run build`, instead of
// silently starting yesterday's code. Where the build tools are absent
// (`npm ci --omit=dev`, the container image) dist/ is the deployment and is
// used as it is.
//
//   node scripts/build-if-stale.mjs           build when stale (or exit 1 if it cannot)
//   node scripts/build-if-stale.mjs --stamp   record that dist/ is current (the end of `npm run build`)
//
// Plain JavaScript without dependencies: it must run where only production
// dependencies are installed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const stampFile = join(dist, '.sources-mtime');
const ENTRIES = ['apps/api/src/server.js', 'apps/worker/src/main.js', 'apps/sms-simulator/src/main.js'];

function newest(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return path.endsWith('.test.ts') ? 0 : st.mtimeMs;
  let m = st.mtimeMs;
  for (const e of readdirSync(path)) m = Math.max(m, newest(join(path, e)));
  return m;
}

/**
 * Newest modification among what the build compiles (tsconfig.build.json's
 * include) and what it is generated from. generated/ itself is left out:
 * `npm run prepare:env` regenerates it on every run, and schema.prisma is
 * what it derives from.
 */
function sourcesMtime() {
  const config = join(root, 'tsconfig.build.json');
  if (!existsSync(config)) return 0;
  const include = JSON.parse(readFileSync(config, 'utf8')).include.filter((p) => p !== 'generated');
  return Math.max(...[...include, 'tsconfig.build.json', 'tsconfig.json', 'prisma/schema.prisma'].map((p) => newest(join(root, p))));
}

const built = () => ENTRIES.every((e) => existsSync(join(dist, e)));

function upToDate() {
  if (!built()) return false;
  const sources = sourcesMtime();
  // No sources here: a deployment of dist/ alone.
  if (sources === 0) return true;
  return existsSync(stampFile) && Number(readFileSync(stampFile, 'utf8')) >= sources;
}

/** The embedded admin the api serves has its own up-to-date check (a directory walk when current). */
function buildAdmin() {
  const script = join(root, 'scripts', 'build-admin.mjs');
  if (!existsSync(script)) return 0;
  return spawnSync(process.execPath, [script], { cwd: root, stdio: ['ignore', 2, 2] }).status ?? 1;
}

const canBuild = () => existsSync(join(root, 'node_modules', '.bin', 'tsc'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** One build at a time when the api, the worker and the simulator start together. */
async function withLock(fn) {
  const lock = join(root, 'node_modules', '.cache', 'build-if-stale.lock');
  mkdirSync(dirname(lock), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch {
      // Held by a process that died mid-build (or before it wrote its pid): take it over.
      let holder = 0;
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
        holder = Number(readFileSync(join(lock, 'pid'), 'utf8'));
      } catch {
        // released meanwhile, or the pid is not written yet
      }
      if ((holder > 0 && !alive(holder)) || age > 600_000) rmSync(lock, { recursive: true, force: true });
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

async function main() {
  if (process.argv.includes('--stamp')) {
    writeFileSync(stampFile, String(sourcesMtime()));
    return 0;
  }
  if (upToDate()) return canBuild() ? buildAdmin() : 0;
  if (!canBuild()) {
    if (built()) return 0; // sources changed but nothing to build with: run what was deployed
    process.stderr.write('dist/ is missing and the build tools are not installed: run `npm ci && npm run build` first.\n');
    return 1;
  }
  return withLock(async () => {
    if (upToDate()) return 0;
    process.stderr.write('dist/ is older than the sources: running `npm run build`\n');
    const res = spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 2, 2] });
    if (res.status !== 0) process.stderr.write('build failed: fix the errors above (the start scripts run the compiled dist/)\n');
    return res.status ?? 1;
  });
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`build-if-stale: ${err.message}\n`);
    process.exit(1);
  },
);
