// A small HTTP load generator (keep-alive, on the lean client of
// http-client.ts). Two modes:
//  - fixed rate (open loop): request i is due at start + i/rate and its
//    latency is measured from when it was DUE, not from when it went out, so
//    a server that falls behind shows it (no coordinated omission);
//  - closed loop: `concurrency` requests in flight, as fast as answered.

import { encodeRequest, LeanHttpPool, type EncodedRequest } from './http-client';

export interface LoadRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

export interface LoadResult {
  sent: number;
  /** Answers by status code; 0 = transport error or timeout. */
  statuses: Record<number, number>;
  latenciesMs: number[];
  /**
   * Fixed rate only: how late each request went out after it was due (the
   * generator's own timer and event loop). Latency counts from the due time,
   * so at sub-millisecond scale this lag is part of every figure; reported
   * so a reader can tell it from the server's time.
   */
  lagMs?: number[];
  elapsedMs: number;
  /** Completed requests per second over the run. */
  rate: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

export function summary(latenciesMs: number[]): { p50: number; p90: number; p99: number; max: number } {
  const s = [...latenciesMs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
}

/** `make(i)` builds request i (it may sign it, give it a fresh key, …). */
export async function fixedRate(
  baseUrl: string,
  o: {
    rate: number;
    count: number;
    make: (i: number) => LoadRequest;
    timeoutMs?: number;
    maxSockets?: number;
    /**
     * Wake this many ms before a request is due and yield through the event
     * loop (setImmediate, so answers are still read) until it is: timers
     * only have millisecond granularity, and ~0.6 ms of timer lateness would
     * otherwise sit inside every sub-millisecond figure. Costs the generator
     * up to this share of a core, so only for low rates.
     */
    spinMs?: number;
    /** A pool whose connections are already open (a warm-up's): the run then starts in the steady state instead of with a burst of connects. */
    pool?: LeanHttpPool;
  },
): Promise<LoadResult> {
  const pool = o.pool ?? new LeanHttpPool(baseUrl, o.maxSockets ?? 256);
  const statuses: Record<number, number> = {};
  const latencies: number[] = new Array<number>(o.count);
  const lags: number[] = new Array<number>(o.count);
  // Built and encoded before the clock starts (signing, JSON): the
  // generator's own work then does not delay requests that are due.
  const requests: EncodedRequest[] = Array.from({ length: o.count }, (_, n) => encodeRequest(pool.host, o.make(n)));
  // Those requests are young objects: the first scavenges of the run would
  // copy them all (tens of ms while answers wait to be read). A full
  // collection now moves them out of the way (the bench runs with --expose-gc).
  (globalThis as { gc?: () => void }).gc?.();
  const spinMs = o.spinMs ?? 0;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      // Everything due by now goes out now; the timer only wakes us up.
      while (i < o.count && start + (i * 1000) / o.rate <= now) {
        const due = start + (i * 1000) / o.rate;
        const n = i++;
        lags[n] = now - due;
        pending.push(
          pool.request(requests[n] as EncodedRequest, o.timeoutMs ?? 10_000).then((status) => {
            statuses[status] = (statuses[status] ?? 0) + 1;
            latencies[n] = performance.now() - due;
          }),
        );
      }
      if (i >= o.count) return resolve();
      const wait = start + (i * 1000) / o.rate - performance.now();
      if (wait <= spinMs) setImmediate(tick);
      else setTimeout(tick, Math.max(0, wait - spinMs));
    };
    tick();
  });
  await Promise.all(pending);
  const elapsedMs = performance.now() - start;
  if (!o.pool) pool.destroy();
  return { sent: o.count, statuses, latenciesMs: latencies, lagMs: lags, elapsedMs, rate: (o.count / elapsedMs) * 1000 };
}

export async function closedLoop(
  baseUrl: string,
  o: { concurrency: number; count: number; make: (i: number) => LoadRequest; timeoutMs?: number; pool?: LeanHttpPool },
): Promise<LoadResult> {
  const pool = o.pool ?? new LeanHttpPool(baseUrl, o.concurrency);
  const statuses: Record<number, number> = {};
  const latencies: number[] = new Array<number>(o.count);
  let next = 0;
  const start = performance.now();
  const lane = async (): Promise<void> => {
    for (;;) {
      const n = next++;
      if (n >= o.count) return;
      const t0 = performance.now();
      const status = await pool.request(encodeRequest(pool.host, o.make(n)), o.timeoutMs ?? 10_000);
      latencies[n] = performance.now() - t0;
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, lane));
  const elapsedMs = performance.now() - start;
  if (!o.pool) pool.destroy();
  return { sent: o.count, statuses, latenciesMs: latencies, elapsedMs, rate: (o.count / elapsedMs) * 1000 };
}

export function okCount(r: LoadResult, ...ok: number[]): number {
  return ok.reduce((n, s) => n + (r.statuses[s] ?? 0), 0);
}
