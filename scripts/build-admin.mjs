// Builds the embedded admin (apps/admin → apps/admin/dist) unless the build is
// newer than every source: `npm run prepare:env` and the browser tests call
// it, so an unchanged admin costs a directory walk, not a Vite build.
//
//   node scripts/build-admin.mjs          build when sources changed or dist is missing
//   node scripts/build-admin.mjs --force  always build
import { execFileSync } from 'node:child_process';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const admin = join(root, 'apps', 'admin');
const dist = join(admin, 'dist');
const stampFile = join(dist, '.sources-mtime');
const lockDir = join(admin, '.build-lock');

function newest(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = st.mtimeMs;
  for (const e of readdirSync(path)) m = Math.max(m, newest(join(path, e)));
  return m;
}

const sourcesMtime = () =>
  Math.max(...['index.html', 'vite.config.mts', 'tsconfig.json', 'src'].map((p) => newest(join(admin, p))), newest(join(root, 'package-lock.json')));

function upToDate() {
  if (!existsSync(join(dist, 'index.html')) || !existsSync(stampFile)) return false;
  return Number(readFileSync(stampFile, 'utf8')) >= sourcesMtime();
}

/**
 * Brotli and gzip copies of every script and stylesheet, made once here at
 * the highest levels: the api serves them by Accept-Encoding (admin.routes.ts)
 * instead of compressing on each request.
 */
function precompress(dir) {
  for (const f of readdirSync(dir)) {
    if (!/\.(js|css|svg)$/.test(f)) continue;
    const body = readFileSync(join(dir, f));
    writeFileSync(join(dir, `${f}.br`), brotliCompressSync(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: body.length } }));
    writeFileSync(join(dir, `${f}.gz`), gzipSync(body, { level: 9 }));
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const force = process.argv.includes('--force');
  if (!force && upToDate()) return;
  // Several test files may ask at once: one builds, the others wait for it.
  for (;;) {
    try {
      mkdirSync(lockDir);
      break;
    } catch {
      try {
        if (Date.now() - statSync(lockDir).mtimeMs > 120_000) rmSync(lockDir, { recursive: true, force: true });
      } catch {
        /* removed meanwhile */
      }
      await sleep(200);
    }
  }
  try {
    if (!force && upToDate()) return;
    const mtime = sourcesMtime();
    execFileSync(join(root, 'node_modules', '.bin', 'vite'), ['build', '--config', join(admin, 'vite.config.mts'), '--logLevel', 'warn'], {
      cwd: root,
      stdio: 'inherit',
      // Jest runs with NODE_ENV=test, which Vite would honour: React's development build, half again as big.
      env: { ...process.env, NODE_ENV: 'production' },
    });
    precompress(join(dist, 'assets'));
    writeFileSync(stampFile, String(mtime));
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
