// The SMS simulator's own CPU per message, the way the benchmark's production
// mode drives it: bulk sends of 1 000 through the worker's Mitto adapter, and
// signed delivery reports (batched, 200 ms later) to a local sink standing in
// for the api's callback endpoint. The simulator is a child process
// (`node --import tsx <src>/main.ts`), measured from /proc/<pid>/stat
// (utime + stime, every thread: JS, GC, libuv) between the first send of a run
// and the last report of it; the sink and the sender run here, unmeasured.
//   npx tsx scripts/measure-simulator-cost.ts [--messages 100000] [--runs 3] [--rounds 1]
//     [--dlr-batch 100] [--parallel 4] [--variant label=dir ...] [--cpu-prof DIR] [--node-arg ARG ...] [--threads]
// A variant is a directory holding the simulator's src (main.ts), optionally
// with node flags after `@` (comma-separated); the default is this tree's. With several variants each round starts each one fresh in
// turn, so old and new code alternate on a noisy machine.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createMittoProvider } from '../domain/messaging/providers/mitto';
import type { OutboundMessage } from '../domain/messaging/providers/provider';
import { verifySimulatorSignature } from '../domain/messaging/providers/simulator-signature';

const ROOT = path.resolve(__dirname, '..');
const API_KEY = 'measure-api-key';
const SECRET = 'measure-webhook-secret';
const BULK = 1_000;
const WARMUP_MESSAGES = 20_000;
const CLOCK_TICKS = 100; // USER_HZ on Linux

interface Options {
  messages: number;
  runs: number;
  rounds: number;
  dlrBatch: number;
  parallel: number;
  variants: Array<{ label: string; dir: string; nodeArgs: string[] }>;
  cpuProf: string | undefined;
  nodeArgs: string[];
  threads: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { messages: 100_000, runs: 3, rounds: 1, dlrBatch: 100, parallel: 4, variants: [], cpuProf: undefined, nodeArgs: [], threads: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--messages') o.messages = Number(next());
    else if (a === '--runs') o.runs = Number(next());
    else if (a === '--rounds') o.rounds = Number(next());
    else if (a === '--dlr-batch') o.dlrBatch = Number(next());
    else if (a === '--parallel') o.parallel = Number(next());
    else if (a === '--cpu-prof') o.cpuProf = path.resolve(next());
    else if (a === '--node-arg') o.nodeArgs.push(next());
    else if (a === '--threads') o.threads = true;
    else if (a === '--variant') {
      const [label, spec] = next().split(/=(.*)/s);
      const [dir, args] = (spec ?? '').split('@');
      if (!label || !dir) throw new Error('--variant wants label=dir[@node-arg,node-arg]');
      o.variants.push({ label, dir: path.resolve(dir), nodeArgs: args ? args.split(',') : [] });
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.variants.length === 0) o.variants.push({ label: 'tree', dir: path.join(ROOT, 'apps/sms-simulator/src'), nodeArgs: [] });
  return o;
}

/** User and system CPU of a process, in ms (all its threads). */
function cpuMs(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(fields[11]) * 1000) / CLOCK_TICKS, system: (Number(fields[12]) * 1000) / CLOCK_TICKS };
}

/** CPU ms per thread name (`main`, and V8's GC helpers, libuv's pool… by name), for --threads. */
function threadCpuMs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      // Worker threads are all called `node` here: the main thread is told apart by its id.
      const name = tid === String(pid) ? 'main' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS);
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/** The api's report endpoint as far as the simulator can tell: reads the body, answers 200. */
class ReportSink {
  reports = 0;
  callbacks = 0;
  /** TCP connections the simulator opened to post its reports (keep-alive should hold this near its concurrency). */
  connections = 0;
  badSignatures = 0;
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const body = JSON.parse(raw) as { reports?: unknown[] };
      // Checking every signature would make this process compete harder for the cores; a sample proves the scheme.
      if (this.callbacks++ % 50 === 0 && !verifySimulatorSignature(SECRET, req.headers['x-simulator-signature'], raw)) this.badSignatures++;
      this.reports += Array.isArray(body.reports) ? body.reports.length : 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
      this.waiters = this.waiters.filter((w) => (this.reports >= w.n ? (w.resolve(), false) : true));
    });
  });

  async listen(): Promise<string> {
    this.server.on('connection', () => this.connections++);
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  until(n: number): Promise<void> {
    if (this.reports >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}

// Texts like a rendered campaign message (~120 GSM characters, the name varies).
const NAMES = ['Anna', 'Ben', 'Clara', 'David', 'Emma', 'Felix', 'Grace', 'Henry'];
function message(id: number): OutboundMessage {
  return {
    reference: `r${id}`,
    to: `+1201${String(id % 10_000_000).padStart(7, '0')}`,
    from: 'Bench',
    text: `Hi ${NAMES[id % NAMES.length]}, our winter sale starts today: 30% off everything in store and online. Shop now https://s.example/${id.toString(36)} STOP=opt out`,
    encoding: 'GSM-7',
  };
}

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function startSimulator(dir: string, sinkUrl: string, o: Options, label: string, variantArgs: string[]): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const nodeArgs = [...o.nodeArgs, ...variantArgs, ...(o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${path.join(o.cpuProf, label)}`] : [])];
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join(dir, 'main.ts')], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      SMS_SIMULATOR_PORT: String(port),
      SMS_SIMULATOR_HOST: '127.0.0.1',
      SMS_PROVIDER_API_KEY: API_KEY,
      SMS_WEBHOOK_SECRET: SECRET,
      // A query like Mitto's per-shop token, so URL handling is exercised as in production.
      SIMULATOR_DLR_URL: `${sinkUrl}/webhooks/sms/simulator/status?token=measure`,
      SIMULATOR_DLR_DELAY_MS: '200',
      SIMULATOR_DLR_BATCH: String(o.dlrBatch),
    },
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    const up = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (up) return { child, url };
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`simulator in ${dir} did not start`);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const sink = new ReportSink();
  const sinkUrl = await sink.listen();
  let nextId = 10_000_000;
  const results = new Map<string, number[]>(o.variants.map((v) => [v.label, []]));

  for (let round = 1; round <= o.rounds; round++) {
    for (const v of o.variants) {
      const { child, url } = await startSimulator(v.dir, sinkUrl, o, v.label, v.nodeArgs);
      const pid = child.pid as number;
      const provider = createMittoProvider({ baseUrl: url, apiKey: API_KEY, name: 'simulator', maxSockets: o.parallel, dedupsByReference: true });
      const before = sink.reports;

      // Sends `count` new messages, `parallel` bulk requests at a time, and waits for their reports.
      const send = async (count: number): Promise<void> => {
        const target = sink.reports + count;
        const batches: OutboundMessage[][] = [];
        for (let start = 0; start < count; start += BULK) {
          batches.push(Array.from({ length: Math.min(BULK, count - start) }, () => message(nextId++)));
        }
        let next = 0;
        await Promise.all(
          Array.from({ length: o.parallel }, async () => {
            while (next < batches.length) {
              const results = await provider.sendBatch(batches[next++] as OutboundMessage[], { traceId: 'measure' });
              if (results.some((r) => r.outcome !== 'accepted')) throw new Error('a send was not accepted');
            }
          }),
        );
        await sink.until(target);
      };

      await send(WARMUP_MESSAGES);
      for (let run = 1; run <= o.runs; run++) {
        const cpu0 = cpuMs(pid);
        const callbacks0 = sink.callbacks;
        const connections0 = sink.connections;
        const threads0 = o.threads ? threadCpuMs(pid) : undefined;
        const t0 = performance.now();
        await send(o.messages);
        const seconds = (performance.now() - t0) / 1000;
        const cpu1 = cpuMs(pid);
        const us = (ms: number): number => (ms * 1000) / o.messages;
        const usPerMessage = us(cpu1.user + cpu1.system - cpu0.user - cpu0.system);
        results.get(v.label)?.push(usPerMessage);
        process.stdout.write(
          `round ${round} ${v.label.padEnd(8)} run ${run}: ${usPerMessage.toFixed(2)} µs/message ` +
            `(user ${us(cpu1.user - cpu0.user).toFixed(2)}, system ${us(cpu1.system - cpu0.system).toFixed(2)}; ${o.messages} in ${seconds.toFixed(1)} s, ` +
            `${sink.callbacks - callbacks0} callbacks on ${sink.connections - connections0} new connections)\n`,
        );
        if (threads0) {
          const per = [...threadCpuMs(pid)].map(([name, ms]) => `${name} ${us(ms - (threads0.get(name) ?? 0)).toFixed(2)}`);
          process.stdout.write(`  by thread (µs/message): ${per.join(', ')}\n`);
        }
      }
      provider.close();
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      if (sink.reports - before !== WARMUP_MESSAGES + o.runs * o.messages) throw new Error(`expected ${WARMUP_MESSAGES + o.runs * o.messages} reports, got ${sink.reports - before}`);
    }
  }
  sink.server.close();
  if (sink.badSignatures > 0) throw new Error(`${sink.badSignatures} sampled callbacks had a bad signature`);
  for (const [label, xs] of results) {
    const sorted = [...xs].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? NaN;
    process.stdout.write(`${label}: median ${median.toFixed(2)} µs/message, min ${(sorted[0] ?? NaN).toFixed(2)}, runs ${xs.map((x) => x.toFixed(2)).join(' ')}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
