// A process's claim on the CPU when every core is busy: what a container's
// CPU weight (compose's `cpu_shares`, a Kubernetes CPU request) gives a
// latency-critical service on a shared host.
//
// On Linux with autogroups (kernel.sched_autogroup_enabled = 1, the default
// on desktop and many server kernels), the scheduler first shares the CPU
// between sessions and only then between the processes of one session.
// Every service of a stack runs in a session of its own (spawned detached,
// i.e. setsid), so its plain nice value orders it against nothing: the
// weight that counts is the session's, /proc/<pid>/autogroup. Without
// autogroups the process's own nice is the weight.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

const reason = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? String(err);

/** Sets the weight; returns what was applied, or why nothing was (never throws: a bench on a machine that refuses it still runs, and says so). */
export function setCpuNice(pid: number, nice: number): string {
  const autogroup = `/proc/${pid}/autogroup`;
  const what = existsSync(autogroup) ? `autogroup nice ${nice}` : `nice ${nice}`;
  try {
    if (existsSync(autogroup)) writeFileSync(autogroup, String(nice));
    else setPriority(pid, nice);
    return what;
  } catch (err) {
    return `${what} refused (${reason(err)})`;
  }
}

/** The session's weight now (autogroup nice, else the process's nice), to restore it afterwards. */
export function cpuNiceOf(pid: number): number {
  try {
    const m = /nice\s+(-?\d+)/.exec(readFileSync(`/proc/${pid}/autogroup`, 'utf8'));
    if (m) return Number(m[1]);
  } catch {
    // no autogroups
  }
  try {
    return getPriority(pid);
  } catch {
    return 0;
  }
}
