import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { freePort, killGroup, ROOT, SERVICE_NODE_ARGS } from '../scripts/lib/stack';
import type { TestEnv } from './harness';

// The real worker process (as `npm run start:worker` runs it: tsx, its heap
// capped) against a test environment's database and queue prefix, for tests
// whose point is what happens to that process (memory, crashes).

export interface WorkerProcess {
  proc: ChildProcess;
  pid: number;
  /** Its ops server's `/metrics`. */
  metricsUrl: string;
  /** Set once the process has exited. */
  exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** stdout and stderr so far (the last 64 KiB). */
  output(): string;
  /** Peak resident set size so far (VmHWM), in KiB; 0 once the process is gone. */
  peakRssKb(): number;
  stop(): Promise<void>;
}

export async function startWorkerProcess(env: TestEnv, extra: NodeJS.ProcessEnv = {}): Promise<WorkerProcess> {
  const port = await freePort();
  const proc = spawn(process.execPath, [...SERVICE_NODE_ARGS.worker, '--import', 'tsx', 'apps/worker/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: env.config.DATABASE_URL,
      QUEUE_PREFIX: env.prefix,
      WORKER_METRICS_PORT: String(port),
      LOG_LEVEL: 'warn',
      SERVICE_NAME: 'worker-under-test',
      ...extra,
    },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) throw new Error('worker did not start');
  const pid = proc.pid;
  let out = '';
  const keep = (chunk: Buffer): void => {
    out = (out + chunk.toString('utf8')).slice(-65_536);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const done = new Promise<void>((resolve) => {
    proc.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });

  const handle: WorkerProcess = {
    proc,
    pid,
    metricsUrl: `http://127.0.0.1:${port}/metrics`,
    exit: () => exited,
    output: () => out,
    peakRssKb: () => {
      try {
        return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
      } catch {
        return 0;
      }
    },
    async stop() {
      if (!exited) {
        killGroup(pid, 'SIGTERM');
        const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref());
        if ((await Promise.race([done.then(() => 'ok' as const), timer])) === 'timeout') killGroup(pid, 'SIGKILL');
        await done;
      }
      killGroup(pid, 'SIGKILL');
    },
  };

  // Ready once its ops server answers /health (it starts listening before the BullMQ workers).
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`worker exited before it became healthy:\n${out}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1_000) })).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await handle.stop();
      throw new Error(`worker did not become healthy:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return handle;
}
