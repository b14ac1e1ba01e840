import type { Redis } from 'ioredis';
import { parseConfig } from './config';
import { createWorkerRedis, waitForRedis } from './redis';
import { createSegmentRateLimiter, slotsPerSecond, type SegmentRateLimiter } from './segment-rate-limiter';
import { testRedisPrefix } from '../test/db';

// Real Redis, virtual time: the limiters' clock and sleep are one shared fake
// clock, so which slot each segment lands in is exact, not timed.

describe('segment rate limiter (Redis, shared by processes)', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = createWorkerRedis(parseConfig(process.env).REDIS_URL);
    await waitForRedis(redis);
  });
  afterAll(() => redis.disconnect());

  function virtualClock(startSlotAligned: number) {
    let t = startSlotAligned;
    return {
      now: () => t,
      sleep: async (ms: number) => {
        t = Math.max(t, t + ms);
        await new Promise((r) => setImmediate(r));
      },
      at: () => t,
    };
  }

  it('cuts a second into slots that divide the rate', () => {
    expect(slotsPerSecond(50_000)).toBe(10);
    expect(slotsPerSecond(25)).toBe(5);
    expect(slotsPerSecond(6)).toBe(2);
    expect(slotsPerSecond(7)).toBe(1);
  });

  it('two processes share the budget: 65 segments at 100/s take exactly 7 slots of 10, none lost, none over', async () => {
    const prefix = testRedisPrefix();
    const clock = virtualClock(1_000_000_000_000);
    // A slot's key expires 1 s of real time after its first write, and on a
    // loaded machine the run outlasts that: each counter is read as the
    // virtual clock leaves its slot (the highest reading kept), the last one
    // at the end.
    const seen = new Map<number, number>();
    const readSlot = async (slot: number) => {
      const n = Number((await redis.get(`${prefix}:sms-segments:${slot}`)) ?? 0);
      seen.set(slot, Math.max(seen.get(slot) ?? 0, n));
    };
    // The clock moves before the read: a caller's wait is computed from now(), so it must move at once.
    const sleep = async (ms: number) => {
      const left = Math.floor(clock.at() / 100);
      await clock.sleep(ms);
      await readSlot(left);
    };
    // Two limiters = two worker processes (their own objects, one Redis).
    const a = createSegmentRateLimiter({ redis, prefix, perSecond: 100, now: clock.now, sleep });
    const b = createSegmentRateLimiter({ redis, prefix, perSecond: 100, now: clock.now, sleep });
    expect(a.slotMs).toBe(100);
    const finished: number[] = [];
    const run = (l: SegmentRateLimiter, n: number) => l.acquire(n, { deadline: Number.MAX_SAFE_INTEGER }).then((ok) => (finished.push(clock.at()), ok));
    expect(await Promise.all([run(a, 35), run(b, 27), run(a, 3)])).toEqual([true, true, true]);
    // Slots 0..6 hold 65 segments: the last grant lands in slot 6, never earlier.
    const firstSlot = Math.floor(1_000_000_000_000 / 100);
    expect(Math.max(...finished)).toBe((firstSlot + 6) * 100);
    // No slot's counter grants more than its share.
    await readSlot(firstSlot + 6);
    const granted = [0, 1, 2, 3, 4, 5, 6].map((i) => Math.min(10, seen.get(firstSlot + i) ?? 0));
    expect(granted).toEqual([10, 10, 10, 10, 10, 10, 5]);
  });

  it('a grant that cannot come before the deadline gives up (having sent nothing)', async () => {
    const prefix = testRedisPrefix();
    const clock = virtualClock(2_000_000_000_000);
    const l = createSegmentRateLimiter({ redis, prefix, perSecond: 10, now: clock.now, sleep: clock.sleep });
    // 10/s → 10 slots of 1: 5 segments need 5 slots, the deadline allows 3.
    expect(await l.acquire(5, { deadline: clock.at() + 300 })).toBe(false);
    expect(await l.acquire(1, { deadline: clock.at() + 1_000 })).toBe(true);
  });
});
