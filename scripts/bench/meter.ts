// CPU seconds of every process a scenario involves (api, worker(s),
// simulator, the bench database's Postgres backends plus Postgres's
// background writers, Redis), and the workers' peak RSS over the window.

import { readFileSync } from 'node:fs';
import { CpuMeter, postgresPids, processTree, procUsage, type Stack } from '../lib/stack';
import { BENCH_APPLICATION_NAME } from './bench-db';
import type { BenchDb } from './bench-db';

export interface CpuBreakdown {
  api: number;
  worker: number;
  simulator: number;
  postgres: number;
  redis: number;
  total: number;
}

/** Busy CPU seconds of the whole machine so far (every process, from /proc/stat). */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  // cpu user nice system idle iowait irq softirq steal …
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return busy / 100;
}

export class ResourceMeter {
  private readonly machineStart = machineBusySeconds();
  private machineLast = this.machineStart;
  private meters: Record<Exclude<keyof CpuBreakdown, 'total'>, CpuMeter>;
  private pgPids: number[] = [];
  private pgRefreshedAt = 0;
  peakWorkerRssBytes = 0;

  constructor(
    private readonly stack: Stack,
    private readonly db: BenchDb,
    private readonly redisPid: number | null,
  ) {
    const tree = (kind: string) => (): number[] => this.stack.services.filter((s) => s.kind === kind && !s.exit).flatMap((s) => processTree(s.pid));
    this.meters = {
      // The link redirector, when it runs as its own process, is the api's code.
      api: new CpuMeter(() => [...tree('api')(), ...tree('links')()]),
      worker: new CpuMeter(tree('worker')),
      simulator: new CpuMeter(tree('sms-simulator')),
      postgres: new CpuMeter(async () => this.postgres()),
      redis: new CpuMeter(() => (this.redisPid ? [this.redisPid] : [])),
    };
  }

  private async postgres(): Promise<number[]> {
    // pg_stat_activity is read at most once a second: reading it costs Postgres CPU too.
    if (Date.now() - this.pgRefreshedAt > 1_000) {
      // The bench's own backends (application_name 'bench', bench-db.ts) count as "other processes".
      this.pgPids = await postgresPids(async (sql) => (await this.db.pool.query(sql)).rows, this.db.name, BENCH_APPLICATION_NAME);
      this.pgRefreshedAt = Date.now();
    }
    return this.pgPids;
  }

  async sample(): Promise<void> {
    this.machineLast = machineBusySeconds();
    await Promise.all(Object.values(this.meters).map((m) => m.sample()));
    for (const w of this.stack.workers()) {
      const rss = procUsage(w.pid)?.rssBytes ?? 0;
      if (rss > this.peakWorkerRssBytes) this.peakWorkerRssBytes = rss;
    }
  }

  /**
   * CPU the machine spent on anything else meanwhile (other users' processes,
   * the bench process itself): the figures are only as clean as this is small.
   */
  otherSeconds(): number {
    return Math.max(0, this.machineLast - this.machineStart - this.cpu().total);
  }

  cpu(): CpuBreakdown {
    const out = { api: 0, worker: 0, simulator: 0, postgres: 0, redis: 0, total: 0 };
    for (const [k, m] of Object.entries(this.meters)) {
      out[k as keyof typeof this.meters] = m.seconds();
      out.total += m.seconds();
    }
    return out;
  }
}

/** Samples `fn` every `everyMs` until stopped; returns a stop function that awaits the last sample. */
export function every(everyMs: number, fn: () => Promise<void>): () => Promise<void> {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    if (stopped) return;
    running = running.then(fn).catch(() => undefined);
  }, everyMs);
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
