// Resource accounting from /proc (Linux): CPU time and resident memory of a
// process and its descendants, Postgres backend pids and the redis-server pid,
// so a benchmark can charge every process involved for the work it did.

import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second for /proc/<pid>/stat times; 100 on every Linux this runs on (USER_HZ). */
const CLK_TCK = 100;

export interface ProcUsage {
  pid: number;
  /** user + system CPU seconds of the process itself (live threads and reaped ones). */
  cpuSeconds: number;
  /** Resident set size now, bytes. */
  rssBytes: number;
  /** Peak resident set size (VmHWM), bytes. */
  peakRssBytes: number;
}

interface StatLine {
  pid: number;
  ppid: number;
  cpuSeconds: number;
}

function readStat(pid: number): StatLine | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) is in parentheses and may hold spaces: parse after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  const ppid = Number(rest[1]);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return { pid, ppid, cpuSeconds: (utime + stime) / CLK_TCK };
}

function readStatusKb(pid: number, key: string): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** CPU and memory of one process, or null once it is gone. */
export function procUsage(pid: number): ProcUsage | null {
  const stat = readStat(pid);
  if (!stat) return null;
  return { pid, cpuSeconds: stat.cpuSeconds, rssBytes: readStatusKb(pid, 'VmRSS') * 1024, peakRssBytes: readStatusKb(pid, 'VmHWM') * 1024 };
}

function allPids(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number);
}

/** `pid` and every live descendant. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of allPids()) {
    const s = readStat(p);
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(p);
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop() as number;
    if (!readStat(p)) continue;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** Summed CPU seconds and RSS of a process tree (peak RSS is the largest single process's VmHWM). */
export function treeUsage(pid: number): ProcUsage {
  const total: ProcUsage = { pid, cpuSeconds: 0, rssBytes: 0, peakRssBytes: 0 };
  for (const p of processTree(pid)) {
    const u = procUsage(p);
    if (!u) continue;
    total.cpuSeconds += u.cpuSeconds;
    total.rssBytes += u.rssBytes;
    total.peakRssBytes = Math.max(total.peakRssBytes, u.peakRssBytes);
  }
  return total;
}

/** Processes whose environment carries `NAME=value` (e.g. a stack's run id): finds orphans after a stop. */
export function pidsWithEnv(name: string, value: string): number[] {
  const needle = `${name}=${value}\0`;
  const found: number[] = [];
  for (const p of allPids()) {
    if (p === process.pid) continue;
    try {
      if (readFileSync(`/proc/${p}/environ`, 'latin1').includes(needle)) found.push(p);
    } catch {
      // another user's process, or already gone
    }
  }
  return found;
}

/** Anything that can run one SQL query (a Prisma client, a pg Pool). */
export type QueryFn = (sql: string) => Promise<Record<string, unknown>[]>;

/**
 * Postgres server processes that work for `database`: its client backends
 * (from pg_stat_activity) plus the background processes every write costs
 * (walwriter, checkpointer, background writer, autovacuum). Note that the
 * background processes also serve other databases of the same server.
 * Backends of the `measuring` application (the bench's own connections: its
 * polls for progress and its reads of results) are not the product's work.
 */
export async function postgresPids(query: QueryFn, database: string, measuring?: string): Promise<number[]> {
  const q = (v: string): string => `'${v.replace(/'/g, "''")}'`;
  const own = measuring === undefined ? '' : ` AND application_name IS DISTINCT FROM ${q(measuring)}`;
  const rows = await query(
    `SELECT pid FROM pg_stat_activity WHERE (datname = ${q(database)}${own}) OR backend_type <> 'client backend'`,
  );
  return rows.map((r) => Number(r.pid)).filter((p) => Number.isInteger(p) && p > 0);
}

/** The redis-server pid from INFO server (only meaningful when Redis runs on this machine). */
export function redisPidFromInfo(info: string): number | null {
  const m = /^process_id:(\d+)/m.exec(info);
  return m ? Number(m[1]) : null;
}

/**
 * Accumulates CPU seconds of a changing set of processes between `start()` and
 * `stop()`: each pid is charged (last seen − first seen); call `sample()`
 * often (e.g. every 200 ms) so short-lived backends are seen at all. The CPU a
 * pid used before its first sample, or after its last one, is not counted,
 * so the figure is a slight underestimate for processes that come and go.
 */
export class CpuMeter {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();

  constructor(private readonly pids: () => number[] | Promise<number[]>) {}

  async sample(): Promise<void> {
    for (const pid of await this.pids()) {
      const u = readStat(pid);
      if (!u) continue;
      if (!this.first.has(pid)) this.first.set(pid, u.cpuSeconds);
      this.last.set(pid, u.cpuSeconds);
    }
  }

  /** CPU seconds charged so far. */
  seconds(): number {
    let total = 0;
    for (const [pid, end] of this.last) total += end - (this.first.get(pid) ?? end);
    return total;
  }
}

/** Signals a process group (its leader's pid), or the process alone when it has no group; gone is fine. */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}
