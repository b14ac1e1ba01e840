import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig } from '../lib/config';
import { CLOSE_GRACE_MS } from '../lib/shutdown';
import { productionEnv } from './lib/production-env';
import { clearQueues, freePort, killGroup, procUsage, processTree, ROOT } from './lib/stack';

// CI's production build check (.ci/run, after `npm test`): what a deployment
// runs, proved in a temporary copy that holds only the build and production
// dependencies. `npm run build` here; package.json, package-lock.json, dist/,
// the migrations (the api reads them for /health/full) and the admin bundle
// copied out; `npm ci --omit=dev --omit=optional` there; then `npm run
// start:api`, `npm run start:worker` and `npm run start:links` with NODE_ENV=production and freshly
// generated secrets must answer /health, and SIGTERM must stop them with exit
// 0 within SHUTDOWN_TIMEOUT_MS + CLOSE_GRACE_MS. Also: no devDependency is
// installed, and every module the compiled code requires resolves there.
// Uses DATABASE_URL and REDIS_URL from the environment (or their defaults).
//
// --omit=optional: @prisma/client declares the Prisma CLI and TypeScript as
// optional peers, which npm installs with --omit=dev alone (as devOptional):
// 430 MB with them, 180 MB without. The only optional package dropped
// besides is msgpackr-extract, which speeds up unpacking, and BullMQ only packs.

const DRAIN_MS = 5_000;
const npmFlags = ['--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'];

const base = parseConfig(process.env);
const prefix = `{buildcheck-${randomBytes(4).toString('hex')}}`;
const failures: string[] = [];
const figures: string[] = [];

function fail(msg: string): void {
  failures.push(msg);
  console.error(`FAIL ${msg}`);
}

function timed<T>(fn: () => T): { value: T; ms: number } {
  const t = Date.now();
  const value = fn();
  return { value, ms: Date.now() - t };
}

function duBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? jsFiles(p) : e.name.endsWith('.js') ? [p] : [];
  });
}

/** Packages the compiled code requires that do not resolve in the production install (relative requires are the build's own). */
function unresolvable(copy: string): string[] {
  const req = createRequire(path.join(copy, 'package.json'));
  const missing = new Set<string>();
  for (const file of jsFiles(path.join(copy, 'dist'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/require\("([^"./][^"]*)"\)/g)) {
      const spec = m[1] as string;
      if (spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0] as string)) continue;
      try {
        req.resolve(spec);
      } catch {
        missing.add(`${spec} (${path.relative(copy, file)})`);
      }
    }
  }
  return [...missing];
}

interface Started {
  name: string;
  pid: number;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: () => { code: number | null } | undefined;
}

function npmStart(copy: string, name: ServiceName, env: Record<string, string>): Started {
  const proc = spawn('npm', ['run', '--silent', `start:${name}`], { cwd: copy, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? copy, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString('utf8')).slice(-32_768);
  };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  let ended: { code: number | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      ended = { code };
      resolve({ code, signal });
    }),
  );
  if (proc.pid === undefined) throw new Error(`${name} did not start`);
  return { name, pid: proc.pid, output: () => out, exited, exit: () => ended };
}

async function waitHealthy(svc: Started, url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (svc.exit()) throw new Error(`${svc.name} exited (${JSON.stringify(svc.exit())}) before ${url} answered:\n${svc.output()}`);
    if (await fetch(url, { signal: AbortSignal.timeout(1_000) }).then((r) => r.status === 200, () => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms:\n${svc.output()}`);
}

/** The node process npm started (npm → sh → node, or npm → node). */
function nodeOf(pid: number): number | undefined {
  return processTree(pid).find((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').some((a) => a.startsWith('dist/apps/'));
    } catch {
      return false;
    }
  });
}

type ServiceName = 'api' | 'worker' | 'links';
const PORT_VARIABLE: Record<ServiceName, string> = { api: 'PORT', worker: 'WORKER_METRICS_PORT', links: 'LINKS_PORT' };

async function startAndStop(copy: string, name: ServiceName): Promise<void> {
  const port = await freePort();
  const env = productionEnv({
    DATABASE_URL: base.DATABASE_URL,
    REDIS_URL: base.REDIS_URL,
    QUEUE_PREFIX: prefix,
    [PORT_VARIABLE[name]]: String(port),
    SHUTDOWN_TIMEOUT_MS: String(DRAIN_MS),
  });
  const t0 = Date.now();
  const svc = npmStart(copy, name, env);
  try {
    await waitHealthy(svc, `http://127.0.0.1:${port}/health`);
  } catch (err) {
    killGroup(svc.pid, 'SIGKILL');
    fail(`${name}: ${(err as Error).message}`);
    return;
  }
  const startMs = Date.now() - t0;
  const node = nodeOf(svc.pid);
  await new Promise((r) => setTimeout(r, 1_000));
  const rss = node ? (procUsage(node)?.rssBytes ?? 0) : 0;
  // As an orchestrator stops a container: SIGTERM to the main process (npm here, which passes it on).
  const signalled = Date.now();
  process.kill(svc.pid, 'SIGTERM');
  const bound = DRAIN_MS + CLOSE_GRACE_MS;
  const outcome = await Promise.race([svc.exited, new Promise<'late'>((r) => setTimeout(() => r('late'), bound + 2_000).unref())]);
  const stopMs = Date.now() - signalled;
  killGroup(svc.pid, 'SIGKILL');
  if (outcome === 'late') return fail(`${name} still running ${bound + 2_000} ms after SIGTERM`);
  if (outcome.code !== 0) return fail(`${name} exited ${outcome.code ?? outcome.signal} on SIGTERM:\n${svc.output()}`);
  if (node && procUsage(node)) return fail(`${name}: npm exited but node (${node}) is still running`);
  figures.push(`${name}: healthy ${startMs} ms after \`npm run start:${name}\`, RSS at idle ${mb(rss)}, stopped ${stopMs} ms after SIGTERM`);
  console.log(`ok   ${name}: npm run start:${name} answers /health, SIGTERM → exit 0 in ${stopMs} ms (bound ${bound} ms)`);
}

async function main(): Promise<number> {
  const build = timed(() => execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] }));
  figures.push(`build: ${(build.ms / 1000).toFixed(1)} s (npm run build), dist/ ${mb(duBytes(path.join(ROOT, 'dist')))}`);

  const copy = mkdtempSync(path.join(tmpdir(), 'sms-prod-'));
  try {
    for (const f of ['package.json', 'package-lock.json']) cpSync(path.join(ROOT, f), path.join(copy, f));
    cpSync(path.join(ROOT, 'dist'), path.join(copy, 'dist'), { recursive: true });
    cpSync(path.join(ROOT, 'prisma', 'migrations'), path.join(copy, 'prisma', 'migrations'), { recursive: true });
    if (existsSync(path.join(ROOT, 'apps', 'admin', 'dist'))) cpSync(path.join(ROOT, 'apps', 'admin', 'dist'), path.join(copy, 'apps', 'admin', 'dist'), { recursive: true });
    mkdirSync(path.join(copy, 'scripts'));
    cpSync(path.join(ROOT, 'scripts', 'build-if-stale.mjs'), path.join(copy, 'scripts', 'build-if-stale.mjs'));

    const install = timed(() => execFileSync('npm', ['ci', '--omit=dev', '--omit=optional', ...npmFlags], { cwd: copy, stdio: ['ignore', 'ignore', 'ignore'] }));
    figures.push(`npm ci --omit=dev --omit=optional: ${(install.ms / 1000).toFixed(1)} s, node_modules ${mb(duBytes(path.join(copy, 'node_modules')))}`);

    // Dev-only per the lockfile: a devDependency that a production package also
    // depends on (@types/pg of @prisma/adapter-pg) is rightly installed.
    const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; devOptional?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([p, e]) => p.startsWith('node_modules/') && (e.dev || e.devOptional)).map(([p]) => p);
    const devInstalled = devOnly.filter((p) => existsSync(path.join(copy, p)));
    if (devInstalled.length > 0) fail(`dev-only packages installed in the production copy: ${devInstalled.slice(0, 20).join(', ')}`);
    else console.log(`ok   none of the ${devOnly.length} dev-only packages (tsx, typescript, prisma, yaml, jest, …) is installed`);
    const missing = unresolvable(copy);
    if (missing.length > 0) fail(`required by dist/ but not installed:\n  ${missing.join('\n  ')}`);
    else console.log('ok   every package dist/ requires resolves from production dependencies');

    for (const name of ['api', 'worker', 'links'] as const) await startAndStop(copy, name);
  } finally {
    if (statSync(copy).isDirectory()) rmSync(copy, { recursive: true, force: true });
    await clearQueues(base.REDIS_URL, prefix).catch(() => undefined);
  }
  for (const f of figures) console.log(`     ${f}`);
  console.log(failures.length === 0 ? 'production build check: passed' : 'production build check: FAILED');
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`production build check failed: ${(err as Error).message}`);
    process.exit(1);
  },
);
