import { spawn } from 'node:child_process';
import net from 'node:net';
import { killGroup, ROOT, SERVICE_NODE_ARGS } from './stack';

// A real api, worker or simulator process (`node --import tsx <entry>`) with
// exactly the environment given (plus PATH): what a careless operator's
// deployment would run. For the production start check and the tests whose
// point is whether a process starts at all.

export const ENTRIES = { api: 'apps/api/src/server.ts', worker: 'apps/worker/src/main.ts', 'sms-simulator': 'apps/sms-simulator/src/main.ts' } as const;
export type ServiceName = keyof typeof ENTRIES;

export interface ServiceProcess {
  pid: number;
  /** Signals the process alone (not its group), as an orchestrator signals a container's main process. */
  signal(signal: NodeJS.Signals): void;
  /** Set once the process has exited. */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  output(): string;
  /** SIGTERM, then SIGKILL after 10 s; resolves with how it ended. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startService(name: ServiceName, env: Record<string, string>): ServiceProcess {
  const proc = spawn(process.execPath, [...SERVICE_NODE_ARGS[name], '--import', 'tsx', ENTRIES[name]], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = proc.pid;
  if (pid === undefined) throw new Error(`${name} did not start`);
  let err = '';
  let out = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  proc.stdout.on('data', (d: Buffer) => (out = (out + d.toString('utf8')).slice(-65_536)));
  let ended: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => {
      ended = { code, signal };
      resolve(ended);
    });
  });
  return {
    pid,
    signal: (signal) => {
      if (!ended) process.kill(pid, signal);
    },
    exit: () => ended,
    exited,
    stderr: () => err,
    output: () => `${out}${err}`,
    async stop() {
      if (!ended) {
        killGroup(pid, 'SIGTERM');
        const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref());
        if ((await Promise.race([exited.then(() => 'ok' as const), timer])) === 'timeout') killGroup(pid, 'SIGKILL');
      }
      return exited;
    },
  };
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Polls `url` until it answers 200; throws with the process output if it exits first or never does. */
export async function waitForOk(svc: ServiceProcess, url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (svc.exit()) throw new Error(`exited (${JSON.stringify(svc.exit())}) before ${url} answered:\n${svc.output()}`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(1_000) }).then((r) => r.status === 200, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms:\n${svc.output()}`);
}
