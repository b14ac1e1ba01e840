// Nothing the chaos suite starts may outlive it: every child process group is
// registered here and killed on any way out (normal end, failure, overall
// timeout, Ctrl-C, an uncaught error), and async teardowns (stopping a stack,
// dropping a database) run in reverse order before that.

import { randomBytes } from 'node:crypto';
import { killGroup, pidsWithEnv } from '../lib/proc';

/** Every process we start inherits it, so anything that escaped its group is still found. */
export const CHAOS_RUN_ENV = 'CHAOS_RUN_ID';
const runId = randomBytes(6).toString('hex');
process.env[CHAOS_RUN_ENV] = runId;

/** Live processes of this run other than ourselves: [] after a clean stop. */
export function leftovers(): number[] {
  return pidsWithEnv(CHAOS_RUN_ENV, runId);
}

const groups = new Set<number>();
const killers = new Set<() => void>();
const teardowns: { what: string; fn: () => Promise<void> }[] = [];

/** A process group (the pid of a detached child) to SIGKILL if we exit while it lives. */
export function trackGroup(pid: number): void {
  groups.add(pid);
}

export function untrackGroup(pid: number): void {
  groups.delete(pid);
}

/** A synchronous kill for process sets that change (a stack's workers come and go); returns its remover. */
export function trackKiller(kill: () => void): () => void {
  killers.add(kill);
  return () => killers.delete(kill);
}

/** Registers an async teardown; returns a function that runs it now (once) and unregisters it. */
export function onTeardown(what: string, fn: () => Promise<void>): () => Promise<void> {
  const entry = { what, fn };
  teardowns.push(entry);
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    const i = teardowns.indexOf(entry);
    if (i >= 0) teardowns.splice(i, 1);
    await fn();
  };
}

/** Runs every registered teardown (latest first), each bounded, then kills what is left. */
export async function teardownAll(perStepMs = 15_000): Promise<void> {
  while (teardowns.length > 0) {
    const step = teardowns.pop();
    if (!step) break;
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), perStepMs).unref());
    const result = await Promise.race([step.fn().then(() => 'ok' as const, (err: unknown) => (err as Error).message), timer]);
    if (result !== 'ok') process.stderr.write(`chaos: teardown "${step.what}" did not finish cleanly (${result})\n`);
  }
  killAllNow();
}

/** Synchronous last resort (also runs from process.on('exit')). */
export function killAllNow(): void {
  for (const kill of killers) kill();
  killers.clear();
  for (const pid of groups) killGroup(pid, 'SIGKILL');
  groups.clear();
  for (const pid of leftovers()) killGroup(pid, 'SIGKILL');
}

process.on('exit', killAllNow);
