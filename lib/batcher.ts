/**
 * Coalesces concurrent calls into batches without adding delay: a call made
 * while fewer than `concurrency` flushes are running goes out at once (alone,
 * at low load); calls made while they are all busy wait and go out together
 * in the next flush. So a burst of N requests costs a few round trips and
 * commits instead of N, and a quiet system sees no extra latency.
 *
 * `flush` gets the items in arrival order and returns one result per item,
 * in the same order. If it throws, every caller of that batch gets the error;
 * with `isolateFailures`, a failed batch of several is flushed again one item
 * at a time, so an item that cannot be flushed fails alone and the others
 * still get their results (the flush must be safe to repeat for them).
 */
export class Batcher<I, O> {
  private queued: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private running = 0;

  constructor(
    private readonly flush: (items: I[]) => Promise<O[]>,
    private readonly opts: { maxBatch: number; concurrency: number; isolateFailures?: boolean },
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queued.push({ item, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.opts.concurrency && this.queued.length > 0) {
      const batch = this.queued.splice(0, this.opts.maxBatch);
      this.running++;
      void this.run(batch);
    }
  }

  private async runAlone(b: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }): Promise<void> {
    try {
      const [out] = await this.flush([b.item]);
      b.resolve(out as O);
    } catch (err) {
      b.reject(err);
    }
  }

  private async run(batch: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[]): Promise<void> {
    try {
      const out = await this.flush(batch.map((b) => b.item));
      if (out.length !== batch.length) throw new Error(`batch flush returned ${out.length} results for ${batch.length} items`);
      batch.forEach((b, i) => b.resolve(out[i] as O));
    } catch (err) {
      // One at a time, within this flush's slot: never more flushes at once than the concurrency.
      if (this.opts.isolateFailures && batch.length > 1) for (const b of batch) await this.runAlone(b);
      else for (const b of batch) b.reject(err);
    } finally {
      this.running--;
      this.pump();
    }
  }
}

/** One batcher per owner (a pool, a producer), made on first use and dropped with its owner. */
export function batcherPer<K extends object, I, O>(make: (owner: K) => Batcher<I, O>): (owner: K) => Batcher<I, O> {
  const batchers = new WeakMap<K, Batcher<I, O>>();
  return (owner) => {
    let b = batchers.get(owner);
    if (!b) {
      b = make(owner);
      batchers.set(owner, b);
    }
    return b;
  };
}
