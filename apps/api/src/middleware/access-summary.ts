import type { Logger } from 'pino';

/** Distinct routes summarised per interval; the rest share one line (a flood of odd paths cannot grow the map). */
const MAX_ROUTES = 32;
/** Durations kept per route and interval for the percentiles (reservoir sample beyond it). */
const MAX_SAMPLES = 4_096;
const OTHER = '(other)';

interface Window {
  requests: number;
  classes: Record<string, number>;
  samples: number[];
  maxMs: number;
}

/**
 * Per-second access summary for routes called by the thousand per second
 * (provider webhooks: one delivery report per request). One line per route
 * and interval — count, status classes, p50/p99/max — instead of one line per
 * request: at 10 000 reports/s a line each was most of the API's log volume
 * and a measurable share of its CPU. Requests answered with an error are
 * still logged one by one (by the caller), and counted here as well.
 */
export class AccessSummary {
  private windows = new Map<string, Window>();
  private started = Date.now();

  constructor(
    private readonly logger: Logger,
    intervalMs = 1_000,
  ) {
    // Made here, outside any request: a timer started by a request would run
    // in its context, and the lines would carry that request's id.
    setInterval(() => {
      if (this.windows.size > 0) this.flush();
    }, intervalMs).unref();
  }

  record(route: string, statusCode: number, ms: number): void {
    // An interval starts with its first request (idle seconds write nothing).
    if (this.windows.size === 0) this.started = Date.now();
    let key = route;
    if (!this.windows.has(key) && this.windows.size >= MAX_ROUTES) key = OTHER;
    let w = this.windows.get(key);
    if (!w) {
      w = { requests: 0, classes: {}, samples: [], maxMs: 0 };
      this.windows.set(key, w);
    }
    w.requests += 1;
    const cls = `${Math.floor(statusCode / 100)}xx`;
    w.classes[cls] = (w.classes[cls] ?? 0) + 1;
    if (ms > w.maxMs) w.maxMs = ms;
    if (w.samples.length < MAX_SAMPLES) w.samples.push(ms);
    else {
      // Reservoir sampling: every request of the interval equally likely to be kept.
      const j = Math.floor(Math.random() * w.requests);
      if (j < MAX_SAMPLES) w.samples[j] = ms;
    }
  }

  /** Writes one line per route seen since the last flush and starts a new interval. */
  flush(): void {
    const now = Date.now();
    const windowMs = now - this.started;
    this.started = now;
    const windows = this.windows;
    this.windows = new Map();
    for (const [route, w] of windows) {
      const sorted = w.samples.sort((a, b) => a - b);
      this.logger.info(
        { route, requests: w.requests, status: w.classes, p50Ms: round(quantile(sorted, 0.5)), p99Ms: round(quantile(sorted, 0.99)), maxMs: round(w.maxMs), windowMs },
        'request summary',
      );
    }
  }
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
}

const round = (ms: number): number => Math.round(ms * 100) / 100;
