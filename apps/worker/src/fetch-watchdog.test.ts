import type { Worker } from 'bullmq';
import { startFetchWatchdog, trackFetches, type FetchTracker } from './fetch-watchdog';

const at = (t: number | undefined): FetchTracker => ({ oldestFetchStartedAt: () => t });

describe('startFetchWatchdog', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  async function tick(ms: number): Promise<void> {
    await jest.advanceTimersByTimeAsync(ms);
  }

  it('replaces only a worker whose fetch is older than the bound, and only while Redis answers', async () => {
    let now = 100_000;
    let redisUp = false;
    const replaced: [string, number][] = [];
    const stop = startFetchWatchdog({
      stuckAfterMs: 60_000,
      everyMs: 1_000,
      now: () => now,
      tracked: () => [
        { queue: 'webhooks', tracker: at(now - 61_000) },
        { queue: 'sends', tracker: at(now - 59_000) },
        { queue: 'imports', tracker: at(undefined) },
      ],
      redisAnswers: async () => redisUp,
      replace: async (queue, ms) => void replaced.push([queue, ms]),
    });
    await tick(1_000);
    expect(replaced).toEqual([]); // Redis away: every fetch waits for it, none is stuck
    redisUp = true;
    now += 1_000;
    await tick(1_000);
    expect(replaced).toEqual([['webhooks', 61_000]]);
    stop();
    await tick(5_000);
    expect(replaced).toHaveLength(1);
  });

  it('runs one check at a time', async () => {
    let checks = 0;
    let release: () => void = () => undefined;
    const stop = startFetchWatchdog({
      stuckAfterMs: 10,
      everyMs: 100,
      now: () => 1_000,
      tracked: () => [{ queue: 'webhooks', tracker: at(0) }],
      redisAnswers: async () => {
        checks++;
        await new Promise<void>((r) => (release = r));
        return false;
      },
      replace: async () => undefined,
    });
    await tick(1_000);
    expect(checks).toBe(1);
    release();
    await tick(100);
    expect(checks).toBe(2);
    stop();
    release();
  });
});

describe('trackFetches', () => {
  it('times each fetch in flight, the oldest first, and forgets it when it ends', async () => {
    let now = 0;
    const ends: (() => void)[] = [];
    const worker = { _getNextJob: () => new Promise<void>((r) => ends.push(r)) };
    const tracker = trackFetches(worker as unknown as Worker, () => now);
    const w = worker as unknown as { _getNextJob: () => Promise<void> };
    expect(tracker.oldestFetchStartedAt()).toBeUndefined();
    now = 5;
    const first = w._getNextJob();
    now = 9;
    const second = w._getNextJob();
    expect(tracker.oldestFetchStartedAt()).toBe(5);
    ends[0]!();
    await first;
    expect(tracker.oldestFetchStartedAt()).toBe(9);
    ends[1]!();
    await second;
    expect(tracker.oldestFetchStartedAt()).toBeUndefined();
  });

  it('refuses a BullMQ without the method it wraps', () => {
    expect(() => trackFetches({} as Worker)).toThrow(/_getNextJob/);
  });
});
