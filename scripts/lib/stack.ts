// Process orchestration shared by the demo, the benchmark and the chaos suite:
// free ports, the SMS simulator, the API and N workers as child processes,
// each in its own process group (so a signal reaches everything it started),
// health waits, a stop that never leaves orphans, and per-process resource
// usage from /proc.
//
//   const stack = await startStack({ workers: 1 });
//   ... stack.urls.api, stack.env, stack.services ...
//   await stack.stop();          // SIGTERM, then SIGKILL after a grace period
//   stack.orphans();             // [] unless something escaped its group

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseConfig, type Config } from '../../lib/config';
import { createProducerRedis, waitForRedis, type RedisTarget } from '../../lib/redis';
import { createQueueSet } from '../../queue/connection';
import { setCpuNice } from './cpu-weight';
import { killGroup, pidsWithEnv, procUsage, treeUsage, type ProcUsage } from './proc';

export * from './proc';

export const ROOT = path.resolve(__dirname, '..', '..');

/** Marks every child of a stack in its environment, so leftovers can be found by run id. */
export const RUN_ID_ENV = 'STACK_RUN_ID';

export class StackError extends Error {}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// The kernel may hand the same ephemeral port to two listen(0) calls once the
// first is closed; a process that asks for several ports (api, worker,
// simulator) would then start two services on one port, and the second would
// fail to bind while the first answered for both. Ports given out by this
// process are remembered and never given twice.
const givenPorts = new Set<number>();

function listenOnce(): Promise<{ port: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (!addr || typeof addr !== 'object') return reject(new Error('no port'));
      resolve({ port: addr.port, close: () => new Promise<void>((r) => srv.close(() => r())) });
    });
  });
}

/** `count` distinct TCP ports free on 127.0.0.1 right now, none given before by this process. */
export async function freePorts(count: 2): Promise<[number, number]>;
export async function freePorts(count: 3): Promise<[number, number, number]>;
export async function freePorts(count: number): Promise<number[]>;
export async function freePorts(count: number): Promise<number[]> {
  const held: Array<{ port: number; close: () => Promise<void> }> = [];
  try {
    // All are held open together, so the kernel cannot repeat one among them.
    for (let tries = 0; held.filter((h) => !givenPorts.has(h.port)).length < count; tries++) {
      if (tries > count + 50) throw new Error(`could not find ${count} unused ports`);
      held.push(await listenOnce());
    }
  } finally {
    await Promise.all(held.map((h) => h.close()));
  }
  const ports = held.map((h) => h.port).filter((p) => !givenPorts.has(p)).slice(0, count);
  for (const p of ports) givenPorts.add(p);
  return ports;
}

/** A TCP port free on 127.0.0.1 right now (the kernel picks it), not given before by this process. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

export function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export type ServiceKind = 'sms-simulator' | 'api' | 'worker' | 'links';

export interface Service {
  /** Unique in the stack: `sms-simulator`, `api`, `worker`, `worker-2`, … */
  name: string;
  kind: ServiceKind;
  proc: ChildProcess;
  pid: number;
  log: string;
  healthUrl: string;
  /** The worker's /metrics port, the api's, simulator's or redirector's listening port. */
  port: number;
  /** Set once the process has exited. */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  /** True once we asked it to exit: its exit is then not a failure. */
  expectExit?: boolean;
  /** What `cpuNice` applied (or why it could not). */
  cpuWeight?: string;
}

export interface StartServiceOptions {
  /** Extra environment for this process only (e.g. WORKER_QUEUES). */
  env?: NodeJS.ProcessEnv;
  /** Extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir=/tmp/prof']. */
  nodeArgs?: string[];
  /**
   * The process's CPU weight as a nice value (scripts/lib/cpu-weight.ts):
   * a latency-critical service sharing a saturated machine, as it would
   * have CPU of its own in production. Applied once it has started.
   */
  cpuNice?: number;
}

/**
 * How services run: `dist` is what `npm run start:*` runs (the compiled
 * build, see buildDist), as a production deployment does: no loader thread,
 * ~90 MB less per process; `tsx` transpiles TypeScript at start (no build
 * needed: the demo, the chaos suite and tests).
 */
export type Runtime = 'tsx' | 'dist';

export interface StackOptions {
  runtime?: Runtime;
  /** Number of worker processes (default 1). */
  workers?: number;
  /** Environment on top of process.env and the stack's defaults, for every process. */
  env?: NodeJS.ProcessEnv;
  /** Per-worker extras, by index. */
  workerOptions?: (index: number) => StartServiceOptions;
  apiOptions?: StartServiceOptions;
  simulatorOptions?: StartServiceOptions;
  /**
   * Also run the short-link redirector as its own process (`start:links`),
   * with PUBLIC_LINK_BASE pointing at it, so messages carry its links.
   */
  links?: boolean | StartServiceOptions;
  /** Where logs go (default: a fresh temp dir). */
  logDir?: string;
  /** Prefix of the temp log dir and the queue prefix (default 'stack'). */
  label?: string;
  bootTimeoutMs?: number;
  /** Called when a process exits while the stack is not stopping. */
  onUnexpectedExit?: (service: Service) => void;
}

/**
 * The command line `npm run start:<service>` runs, read from package.json so
 * there is one definition: `exec node <flags> dist/<entry>.js`. The benchmark and
 * the tests start processes from it, so they measure what production runs.
 */
export interface StartCommand {
  nodeArgs: string[];
  /** The compiled entry, relative to the root (`dist/apps/api/src/server.js`). */
  dist: string;
  /** Its TypeScript source (`apps/api/src/server.ts`), for the tsx runtime. */
  source: string;
}

const START_SCRIPT: Record<ServiceKind, string> = { api: 'start:api', worker: 'start:worker', 'sms-simulator': 'start:simulator', links: 'start:links' };

/**
 * `exec` makes the shell npm runs the script with replace itself with node:
 * dash forks otherwise, and npm's SIGTERM would kill the shell and orphan a
 * node still draining.
 */
export function parseStartScript(script: string): StartCommand {
  const words = script.trim().replace(/^exec\s+/, '').split(/\s+/);
  const entry = words.at(-1) ?? '';
  const m = /^dist\/(.+)\.js$/.exec(entry);
  if (words[0] !== 'node' || !m || words.slice(1, -1).some((w) => !w.startsWith('--'))) {
    throw new StackError(`a start script must read \`exec node [--flags] dist/<entry>.js\`, not \`${script}\``);
  }
  return { nodeArgs: words.slice(1, -1), dist: entry, source: `${m[1]}.ts` };
}

export function startCommand(kind: ServiceKind): StartCommand {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const script = pkg.scripts[START_SCRIPT[kind]];
  if (!script) throw new StackError(`package.json has no ${START_SCRIPT[kind]} script`);
  return parseStartScript(script);
}

/**
 * Node flags each service runs with, as `npm run start:*` starts it. The
 * worker's old space is capped: with the default limit (a share of the
 * machine's memory) V8 let a 1 M-recipient send grow the worker to ~240 MB of
 * RSS; capped, it collects sooner and peaks at ~145 MB, at the same
 * throughput (docs/performance.md), with room left for a 50 000-row import.
 * Flags given per process come after these, so they win.
 */
export const SERVICE_NODE_ARGS: Record<ServiceKind, string[]> = {
  api: startCommand('api').nodeArgs,
  worker: startCommand('worker').nodeArgs,
  'sms-simulator': startCommand('sms-simulator').nodeArgs,
  links: startCommand('links').nodeArgs,
};

/** Where the build writes the compiled services. */
export const DIST = path.join(ROOT, 'dist');

/**
 * Brings dist/ up to date exactly as `npm run start:*` does before starting
 * (scripts/build-if-stale.mjs: `npm run build` when a source is newer than
 * the build, nothing otherwise).
 */
export function buildDist(): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(ROOT, 'scripts', 'build-if-stale.mjs')], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new StackError(`build failed: ${err.message}\n${stdout}${stderr}`));
      else resolve();
    });
  });
}

export class Stack {
  readonly services: Service[] = [];
  /** Unexpected exits, as readable lines (the demo turns them into its failure). */
  readonly failures: string[] = [];
  private stopping = false;

  constructor(
    readonly runId: string,
    readonly env: NodeJS.ProcessEnv,
    readonly config: Config,
    readonly logDir: string,
    readonly ports: { api: number; simulator: number; links?: number },
    private readonly onUnexpectedExit?: (service: Service) => void,
    readonly runtime: Runtime = 'tsx',
  ) {}

  get urls(): { api: string; simulator: string; links: string | null; workerMetrics: string[] } {
    return {
      api: `http://127.0.0.1:${this.ports.api}`,
      links: this.ports.links === undefined ? null : `http://127.0.0.1:${this.ports.links}`,
      simulator: `http://127.0.0.1:${this.ports.simulator}`,
      workerMetrics: this.workers().map((w) => `http://127.0.0.1:${w.port}/metrics`),
    };
  }

  service(name: string): Service {
    const s = this.services.find((x) => x.name === name);
    if (!s) throw new StackError(`no service ${name}`);
    return s;
  }

  workers(): Service[] {
    return this.services.filter((s) => s.kind === 'worker' && !s.exit);
  }

  /**
   * Starts one process (node itself, on the compiled entry or with tsx's
   * loader: a single process per service so its pid is the one doing the
   * work) in its own process group.
   */
  startService(kind: ServiceKind, name: string, port: number, opts: StartServiceOptions = {}): Service {
    const log = path.join(this.logDir, `${name}.log`);
    const stream = createWriteStream(log, { flags: 'a' });
    const env: NodeJS.ProcessEnv = { ...this.env, SERVICE_NAME: name, ...opts.env };
    if (kind === 'worker') env.WORKER_METRICS_PORT = String(port);
    if (kind === 'links') env.LINKS_PORT = String(port);
    const cmd = startCommand(kind);
    const entry = this.runtime === 'dist' ? [path.join(ROOT, cmd.dist)] : ['--import', 'tsx', cmd.source];
    const proc = spawn(process.execPath, [...cmd.nodeArgs, ...(opts.nodeArgs ?? []), ...entry], {
      cwd: ROOT,
      env,
      // detached = setsid(): its own process group, so kill(-pid) reaches all it spawns.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout?.pipe(stream);
    proc.stderr?.pipe(stream);
    if (proc.pid === undefined) throw new StackError(`${name} did not start`);
    const healthUrl = `http://127.0.0.1:${port}/health`;
    const service: Service = { name, kind, proc, pid: proc.pid, log, healthUrl, port };
    if (opts.cpuNice !== undefined) service.cpuWeight = setCpuNice(proc.pid, opts.cpuNice);
    proc.on('exit', (code, signal) => {
      service.exit = { code, signal };
      if (!this.stopping && !service.expectExit) {
        this.failures.push(`${name} exited unexpectedly (${signal ?? `code ${code}`}); see ${log}`);
        this.onUnexpectedExit?.(service);
      }
    });
    this.services.push(service);
    return service;
  }

  /** Adds a worker process (e.g. for scaling or after a chaos kill) and waits until it is healthy. */
  async addWorker(opts: StartServiceOptions = {}, timeoutMs = 60_000): Promise<Service> {
    const n = this.services.filter((s) => s.kind === 'worker').length;
    const w = this.startService('worker', n === 0 ? 'worker' : `worker-${n + 1}`, await freePort(), opts);
    await this.waitHealthy(w, Date.now() + timeoutMs);
    return w;
  }

  /** Throws if any process exited while it should be running. */
  assertAlive(): void {
    if (this.failures.length > 0) throw new StackError(this.failures.join('\n'));
  }

  async waitHealthy(service: Service, deadline: number): Promise<void> {
    for (;;) {
      if (service.exit) throw new StackError(`${service.name} exited before it became healthy; last lines of ${service.log}:\n${tail(service.log)}`);
      try {
        const res = await fetch(service.healthUrl, { signal: AbortSignal.timeout(1_000) });
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new StackError(`${service.name} did not become healthy at ${service.healthUrl}`);
      await sleep(100);
    }
  }

  /** Sends a signal to the service's whole process group (SIGKILL = a crash, for chaos tests). */
  signal(service: Service, signal: NodeJS.Signals, opts: { expected?: boolean } = {}): void {
    if (opts.expected ?? true) service.expectExit = true;
    killGroup(service.pid, signal);
  }

  /** Stops one service: SIGTERM to its group, SIGKILL after `graceMs`. Resolves once it exited. */
  async stopService(service: Service, graceMs = 8_000): Promise<void> {
    service.expectExit = true;
    if (service.exit) return;
    const exited = new Promise<void>((resolve) => {
      if (service.exit) resolve();
      else service.proc.once('exit', () => resolve());
    });
    killGroup(service.pid, 'SIGTERM');
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
    if ((await Promise.race([exited.then(() => 'ok' as const), timer])) === 'timeout') {
      killGroup(service.pid, 'SIGKILL');
      await exited;
    }
    // Anything the process left in its group goes with it.
    killGroup(service.pid, 'SIGKILL');
  }

  /** Stops every process (in parallel), then makes sure nothing of this run is left. */
  async stop(graceMs = 8_000): Promise<void> {
    this.stopping = true;
    await Promise.all(this.services.map((s) => this.stopService(s, graceMs)));
    for (const pid of this.orphans()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }

  /** Live processes started by this stack (by the run id in their environment): [] after a clean stop. */
  orphans(): number[] {
    return pidsWithEnv(RUN_ID_ENV, this.runId);
  }

  /** CPU and memory of a service's process (and anything it spawned). */
  usage(service: Service): ProcUsage | null {
    if (service.exit) return null;
    return procUsage(service.pid) ? treeUsage(service.pid) : null;
  }

  /** Removes this run's queue keys (the prefix is the run's own). */
  async clearQueues(): Promise<void> {
    await clearQueues(this.config, this.config.QUEUE_PREFIX);
  }
}

/** Removes every queue key under a prefix of a run's own. */
export async function clearQueues(target: string | RedisTarget, prefix: string): Promise<void> {
  const redis = createProducerRedis(target);
  const queues = createQueueSet(redis, prefix);
  try {
    await waitForRedis(redis);
    await Promise.all(queues.all().map((q) => q.obliterate({ force: true })));
  } finally {
    await queues.close();
    redis.disconnect();
  }
}


/**
 * The environment every process of a stack shares: its own ports, the
 * simulator as provider, local secrets, and a queue prefix of its own so a dev
 * worker on the default prefix never takes its jobs.
 */
export function stackEnv(p: { runId: string; label: string; apiPort: number; simPort: number; extra?: NodeJS.ProcessEnv }): NodeJS.ProcessEnv {
  const base = process.env;
  return {
    ...base,
    NODE_ENV: 'development',
    PORT: String(p.apiPort),
    SMS_SIMULATOR_PORT: String(p.simPort),
    SMS_SIMULATOR_HOST: '127.0.0.1',
    SMS_PROVIDER: 'simulator',
    SMS_PROVIDER_URL: `http://127.0.0.1:${p.simPort}`,
    SMS_PROVIDER_API_KEY: base.SMS_PROVIDER_API_KEY ?? 'demo-sms-api-key',
    SMS_WEBHOOK_SECRET: base.SMS_WEBHOOK_SECRET ?? 'demo-sms-webhook-secret',
    SHOPIFY_API_KEY: base.SHOPIFY_API_KEY ?? 'demo-shopify-api-key',
    SHOPIFY_API_SECRET: base.SHOPIFY_API_SECRET ?? 'demo-shopify-api-secret',
    STRIPE_WEBHOOK_SECRET: base.STRIPE_WEBHOOK_SECRET ?? 'whsec_stack_local',
    // Token exchange only where a Shopify (the fake: SHOPIFY_ADMIN_API_BASE) is
    // there to answer; benchmark and chaos stacks do not play Shopify.
    SHOPIFY_INSTALL_BY_EXCHANGE: base.SHOPIFY_INSTALL_BY_EXCHANGE ?? (p.extra?.SHOPIFY_ADMIN_API_BASE ?? base.SHOPIFY_ADMIN_API_BASE ? 'true' : 'false'),
    QUEUE_PREFIX: `{${p.label}-${p.runId}}`,
    LOG_LEVEL: base.STACK_LOG_LEVEL ?? 'warn',
    SIMULATOR_DLR_DELAY_MS: '200',
    // Development stacks (demo, bench, chaos) seed American numbers (+1201):
    // with the legal 08:00–21:00 floor a run at night would wait for New
    // York's morning. A production-mode stack keeps it (and production
    // refuses it off); the floor has its own tests.
    ...(base.SMS_QUIET_HOURS_FLOOR === undefined && p.extra?.NODE_ENV !== 'production' ? { SMS_QUIET_HOURS_FLOOR: 'false' } : {}),
    [RUN_ID_ENV]: p.runId,
    ...p.extra,
  };
}

/**
 * Starts simulator, api and `workers` workers and waits until all are healthy.
 * On any failure it stops what it started before throwing.
 */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const label = opts.label ?? 'stack';
  const runId = randomBytes(4).toString('hex');
  const [apiPort, simPort, maybeLinksPort] = await freePorts(3);
  const linksPort = opts.links ? maybeLinksPort : undefined;
  const linkBase = linksPort === undefined ? {} : { PUBLIC_LINK_BASE: `http://127.0.0.1:${linksPort}` };
  const env = stackEnv({ runId, label, apiPort, simPort, extra: { ...linkBase, ...opts.env } });
  const config = parseConfig(env);
  const logDir = opts.logDir ?? mkdtempSync(path.join(tmpdir(), `sms-${label}-`));
  const stack = new Stack(runId, env, config, logDir, { api: apiPort, simulator: simPort, links: linksPort }, opts.onUnexpectedExit, opts.runtime ?? 'tsx');
  try {
    const deadline = Date.now() + (opts.bootTimeoutMs ?? 60_000);
    const started = [
      stack.startService('sms-simulator', 'sms-simulator', simPort, opts.simulatorOptions),
      stack.startService('api', 'api', apiPort, opts.apiOptions),
    ];
    if (linksPort !== undefined) started.push(stack.startService('links', 'links', linksPort, typeof opts.links === 'object' ? opts.links : {}));
    const workers = opts.workers ?? 1;
    for (let i = 0; i < workers; i++) {
      started.push(stack.startService('worker', i === 0 ? 'worker' : `worker-${i + 1}`, await freePort(), opts.workerOptions?.(i)));
    }
    await Promise.all(started.map((s) => stack.waitHealthy(s, deadline)));
    return stack;
  } catch (err) {
    await stack.stop(2_000);
    throw err;
  }
}
