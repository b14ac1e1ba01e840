import { Batcher } from './batcher';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Batcher', () => {
  it('sends a lone call at once, alone', async () => {
    const batches: number[][] = [];
    const b = new Batcher(async (xs: number[]) => {
      batches.push(xs);
      return xs.map((x) => x * 2);
    }, { maxBatch: 10, concurrency: 1 });
    await expect(b.submit(21)).resolves.toBe(42);
    expect(batches).toEqual([[21]]);
  });

  it('coalesces calls made while the flushes are busy, in order, bounded by maxBatch, each caller getting its own result', async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const b = new Batcher(async (xs: number[]) => {
      batches.push(xs);
      if (batches.length === 1) await gate;
      return xs.map((x) => `r${x}`);
    }, { maxBatch: 3, concurrency: 1 });
    const results = Array.from({ length: 8 }, (_, i) => b.submit(i));
    await tick();
    release();
    await expect(Promise.all(results)).resolves.toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']);
    expect(batches).toEqual([[0], [1, 2, 3], [4, 5, 6], [7]]);
  });

  it('never runs more flushes at once than its concurrency', async () => {
    let running = 0;
    let peak = 0;
    const b = new Batcher(async (xs: number[]) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running--;
      return xs;
    }, { maxBatch: 2, concurrency: 2 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => b.submit(i)));
    expect(peak).toBe(2);
  });

  it('fails every caller of a failed batch, and the next batch still runs', async () => {
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const b = new Batcher(async (xs: number[]) => {
      calls++;
      if (calls === 1) await gate;
      if (calls === 2) throw new Error('database went away');
      return xs;
    }, { maxBatch: 10, concurrency: 1 });
    const first = b.submit(0);
    const failed = [b.submit(1), b.submit(2)].map((p) => p.catch((e: Error) => e.message));
    await tick();
    release();
    await expect(first).resolves.toBe(0);
    await expect(Promise.all(failed)).resolves.toEqual(['database went away', 'database went away']);
    await expect(b.submit(3)).resolves.toBe(3);
  });

  it('with isolateFailures, flushes a failed batch again one item at a time: only the item that cannot be flushed fails', async () => {
    const batches: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const b = new Batcher(async (xs: string[]) => {
      batches.push(xs);
      if (batches.length === 1) await gate;
      if (xs.includes('bad')) throw new Error(`cannot flush ${xs.join(',')}`);
      return xs.map((x) => x.toUpperCase());
    }, { maxBatch: 10, concurrency: 1, isolateFailures: true });
    const results = Promise.allSettled(['first', 'a', 'bad', 'c'].map((x) => b.submit(x)));
    await tick();
    release();
    const settled = await results;
    expect(settled.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['FIRST', 'A', 'cannot flush bad', 'C']);
    expect(batches).toEqual([['first'], ['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
  });

  it('refuses a flush that answers the wrong number of results', async () => {
    const b = new Batcher(async () => [], { maxBatch: 10, concurrency: 1 });
    await expect(b.submit(1)).rejects.toThrow('0 results for 1 items');
  });
});
