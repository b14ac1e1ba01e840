import type { Logger } from 'pino';
import type { Db } from '../../lib/db';
import type { Metrics } from '../../lib/metrics';
import { countAttribution } from '../orders/count-attribution';
import { recordClicks, type ClickRecord } from './record-clicks';

export interface ClickBufferOptions {
  /** Clicks held at most; past it a redirect is still answered but not recorded (counted as dropped). */
  max?: number;
  /** Rows per INSERT. */
  batchSize?: number;
  flushEveryMs?: number;
  metrics?: Pick<Metrics, 'linkClicks' | 'linkClicksDropped' | 'linkClickFlushFailures' | 'linkClicksBuffered' | 'linkClickBufferAge' | 'attributedOrders' | 'attributedRevenue' | 'attributedRevenueWithdrawn'>;
  now?: () => number;
  logger?: Logger;
}

/**
 * Clicks wait here, in the api process's memory, and reach Postgres in
 * batches (one INSERT per `batchSize`, every `flushEveryMs` or as soon as a
 * batch is full), so a redirect never waits for a write. A failed flush puts
 * its clicks back and is tried again on the next tick (at least once; the
 * insert is idempotent by click id). Bounded: a full buffer drops new clicks
 * and counts them. What a crash loses is what was not flushed yet (at most
 * about one interval of clicks); nothing is ever counted twice.
 *
 * The backlog (`link_clicks_buffered`) and the age of its oldest click are
 * reported on every tick and after every flush, not on `add` (the redirect's
 * hot path): a flush that hangs on a lock still shows the clicks piling up.
 */
export class ClickBuffer {
  private queue: ClickRecord[] = [];
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly max: number;
  private readonly batchSize: number;

  constructor(
    private readonly db: Db,
    private readonly opts: ClickBufferOptions = {},
  ) {
    this.max = opts.max ?? 100_000;
    this.batchSize = opts.batchSize ?? 1_000;
  }

  get size(): number {
    return this.queue.length;
  }

  /** Starts the periodic flush (unref'd: it never keeps a process alive). */
  start(): this {
    if (!this.timer) {
      this.timer = setInterval(() => {
        this.report();
        void this.flush();
      }, this.opts.flushEveryMs ?? 500);
      this.timer.unref();
    }
    return this;
  }

  add(click: ClickRecord): boolean {
    if (this.queue.length >= this.max) {
      this.opts.metrics?.linkClicksDropped.inc({ reason: 'buffer_full' });
      return false;
    }
    this.queue.push(click);
    if (this.queue.length >= this.batchSize && !this.flushing) void this.flush();
    return true;
  }

  /** Writes everything buffered now (one flush at a time; a caller during a flush waits for it, then flushes what is left). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
    if (this.queue.length > 0) {
      this.flushing = this.drain().finally(() => {
        this.flushing = null;
      });
      await this.flushing;
    }
    this.report();
  }

  /** Sets the backlog gauges from the buffer as it is now. */
  report(): void {
    const m = this.opts.metrics;
    if (!m) return;
    const oldest = this.queue[0];
    m.linkClicksBuffered.set(this.queue.length);
    m.linkClickBufferAge.set(oldest ? Math.max(0, ((this.opts.now ?? Date.now)() - oldest.clickedAt.getTime()) / 1000) : 0);
  }

  /** Stops the timer and flushes what is left (shutdown). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.batchSize);
      try {
        const r = await recordClicks(this.db, batch);
        const m = this.opts.metrics;
        if (r.human > 0) m?.linkClicks.inc({ kind: 'human' }, r.human);
        if (r.bot > 0) m?.linkClicks.inc({ kind: 'bot' }, r.bot);
        if (m) for (const a of r.attributed) countAttribution(m, a);
      } catch (err) {
        // Back at the head, in order, for the next tick; bounded like any add
        // (the newest go if clicks arrived meanwhile and it is full).
        const kept = batch.concat(this.queue);
        if (kept.length > this.max) this.opts.metrics?.linkClicksDropped.inc({ reason: 'buffer_full' }, kept.length - this.max);
        this.queue = kept.slice(0, this.max);
        this.opts.metrics?.linkClickFlushFailures.inc();
        this.opts.logger?.warn({ err, clicks: batch.length }, 'click flush failed; kept for the next one');
        return;
      }
    }
  }
}
