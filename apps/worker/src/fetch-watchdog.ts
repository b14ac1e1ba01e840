import type { Worker } from 'bullmq';

/**
 * BullMQ's fetch of a worker's next job: the blocking wait on the queue's
 * marker plus the move to active. The library bounds that wait with a
 * watchdog of its own, but its reconnection of the blocking client can itself
 * stall (seen here: after a Redis Cluster failover, a worker of two stayed in
 * its fetch for minutes while the process's other workers and its shared
 * connection were healthy), and then the queue is never consumed again by
 * that process: isRunning() stays true and no error is emitted. BullMQ's
 * maintainers advise recreating such a worker; this is how it is noticed.
 */
interface FetchingWorker {
  _getNextJob: (...args: unknown[]) => Promise<unknown>;
}

export interface FetchTracker {
  /** When the oldest fetch still in flight began (ms since epoch), or undefined. */
  oldestFetchStartedAt(): number | undefined;
}

/**
 * Times every fetch of `worker`. Throws when the BullMQ in use no longer has
 * the method it wraps, so an upgrade that renames it fails at start (and in
 * the tests), not silently.
 */
export function trackFetches(worker: Worker, now: () => number = Date.now): FetchTracker {
  const w = worker as unknown as FetchingWorker;
  if (typeof w._getNextJob !== 'function') throw new Error('BullMQ Worker has no _getNextJob: the fetch watchdog must be updated for this BullMQ version');
  const original = w._getNextJob.bind(worker);
  const inFlight = new Set<{ at: number }>();
  w._getNextJob = async (...args: unknown[]) => {
    const fetch = { at: now() };
    inFlight.add(fetch);
    try {
      return await original(...args);
    } finally {
      inFlight.delete(fetch);
    }
  };
  return {
    oldestFetchStartedAt() {
      let oldest: number | undefined;
      for (const f of inFlight) if (oldest === undefined || f.at < oldest) oldest = f.at;
      return oldest;
    },
  };
}

export interface FetchWatchdogOptions {
  /** A fetch in flight for longer than this is stuck: a healthy one ends within BullMQ's block timeout (≤ 10 s) plus its own watchdog. */
  stuckAfterMs: number;
  everyMs: number;
  /** The workers to watch now (the list changes as stuck ones are replaced). */
  tracked: () => { queue: string; tracker: FetchTracker }[];
  /**
   * Whether Redis answers on the process's shared connection. While it does
   * not, every fetch waits for it and none is stuck: a Redis outage is left to
   * the clients' own reconnection.
   */
  redisAnswers: () => Promise<boolean>;
  replace: (queue: string, stuckForMs: number) => Promise<void>;
  now?: () => number;
}

/** Checks every `everyMs`; returns the function that stops it. */
export function startFetchWatchdog(o: FetchWatchdogOptions): () => void {
  const now = o.now ?? Date.now;
  let checking = false;
  const check = async (): Promise<void> => {
    if (checking) return;
    checking = true;
    try {
      const stuck = o.tracked().flatMap(({ queue, tracker }) => {
        const since = tracker.oldestFetchStartedAt();
        return since !== undefined && now() - since > o.stuckAfterMs ? [{ queue, stuckForMs: now() - since }] : [];
      });
      if (stuck.length === 0 || !(await o.redisAnswers())) return;
      for (const s of stuck) await o.replace(s.queue, s.stuckForMs);
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check().catch(() => undefined), o.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
