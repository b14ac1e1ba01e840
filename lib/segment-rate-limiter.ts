import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RedisClient } from './redis';

/**
 * SMS_PROVIDER_MPS as segments per second across every worker: one counter
 * per time slot in Redis, shared by all processes. A second is cut into up to
 * 10 slots (the largest of 10, 5, 4, 2, 1 that divides the rate), each with
 * its share of the rate, so a saturated limiter releases segments every
 * 100 ms rather than a second's worth in one burst.
 *
 * A caller takes what it needs from the current slot; the slot's counter is
 * one atomic INCRBY (the library's script, which also sets the key's expiry),
 * so every caller owns the disjoint range [before, before + n) of it, and the
 * part of that range below the slot's share is its to use, even when the
 * library rejects the call as a whole. Whatever is still missing is taken
 * from the next slots. Nothing is ever given back: a caller that gives up
 * (deadline) leaves what it took unused, which can only slow sending, never
 * exceed the rate.
 *
 * Slots are numbered from each process's clock: hosts must keep NTP time
 * (a skew of d ms lets at most d/slot of one slot's share through twice).
 */
export interface SegmentRateLimiter {
  readonly perSecond: number;
  readonly slotMs: number;
  /** Waits until `segments` may be sent; false (having waited) when that would pass `deadline` (ms since the epoch). */
  acquire(segments: number, o: { deadline: number }): Promise<boolean>;
}

export interface SegmentRateLimiterOptions {
  redis: RedisClient;
  /** Key prefix (the queue prefix: one Redis Cluster slot, cleared with the queues). */
  prefix: string;
  perSecond: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const SLOTS_PER_SECOND = [10, 5, 4, 2, 1];

export function slotsPerSecond(perSecond: number): number {
  return SLOTS_PER_SECOND.find((s) => perSecond % s === 0) ?? 1;
}

export function createSegmentRateLimiter(o: SegmentRateLimiterOptions): SegmentRateLimiter {
  if (!Number.isInteger(o.perSecond) || o.perSecond < 1) throw new Error(`segment rate must be a positive integer, got ${o.perSecond}`);
  const slots = slotsPerSecond(o.perSecond);
  const slotMs = 1000 / slots;
  const share = o.perSecond / slots;
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  // The key names the slot; its 1 s expiry only clears it away.
  const counter = new RateLimiterRedis({ storeClient: o.redis, keyPrefix: `${o.prefix}:sms-segments`, points: share, duration: 1, rejectIfRedisNotReady: true });

  async function take(slot: number, n: number): Promise<number> {
    try {
      await counter.consume(String(slot), n);
      return n;
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const before = err.consumedPoints - n;
      return Math.max(0, Math.min(n, share - before));
    }
  }

  return {
    perSecond: o.perSecond,
    slotMs,
    async acquire(segments, { deadline }) {
      let need = Math.ceil(segments);
      while (need > 0) {
        const slot = Math.floor(now() / slotMs);
        need -= await take(slot, Math.min(need, share));
        if (need <= 0) return true;
        const next = (slot + 1) * slotMs;
        if (next > deadline) return false;
        await sleep(Math.max(0, next - now()));
      }
      return true;
    },
  };
}
