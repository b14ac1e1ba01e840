import { ScanThrottle } from './scan-throttle';

describe('ScanThrottle', () => {
  let clock = 0;
  const throttle = (o: { maxKeys?: number } = {}) => new ScanThrottle({ minRows: 1_000, msPerRow: 0.01, maxKeys: o.maxKeys ?? 10, now: () => clock });
  beforeEach(() => {
    clock = 1_000_000;
  });

  /** A scan that counts its calls and reads `rows` rows; `gate` holds it until released. */
  function scanOf(rows: number) {
    let open: () => void = () => undefined;
    const s = {
      calls: 0,
      held: false,
      release: () => open(),
      scan: async () => {
        const n = ++s.calls;
        if (s.held) await new Promise<void>((r) => (open = r));
        return { value: `scan ${n}`, rows };
      },
    };
    return s;
  }
  const settle = () => new Promise((r) => setImmediate(r));

  it('reads a small scan fresh every time', async () => {
    const t = throttle();
    const s = scanOf(999);
    expect(await t.read('k', s.scan)).toBe('scan 1');
    expect(await t.read('k', s.scan)).toBe('scan 2');
    expect(s.calls).toBe(2);
  });

  it('answers a large scan from the last one for msPerRow per row it read, then from the next one', async () => {
    const t = throttle();
    const s = scanOf(100_000); // kept 1 000 ms
    expect(await t.read('k', s.scan)).toBe('scan 1');
    clock += 999;
    expect(await t.read('k', s.scan)).toBe('scan 1');
    expect(s.calls).toBe(1);
    clock += 1;
    // Due: this read starts the next scan and is answered at once from the last.
    expect(await t.read('k', s.scan)).toBe('scan 1');
    await settle();
    expect(await t.read('k', s.scan)).toBe('scan 2');
    expect(s.calls).toBe(2);
  });

  it('runs one scan at a time per key: reads meanwhile get the last answer', async () => {
    const t = throttle();
    const s = scanOf(100_000);
    await t.read('k', s.scan);
    clock += 10_000;
    s.held = true;
    const reads = await Promise.all([t.read('k', s.scan), t.read('k', s.scan), t.read('k', s.scan)]);
    expect(reads).toEqual(['scan 1', 'scan 1', 'scan 1']);
    expect(s.calls).toBe(2);
    s.release();
    await settle();
    expect(await t.read('k', s.scan)).toBe('scan 2');
    expect(s.calls).toBe(2);
  });

  it('gives reads that arrive while a first scan runs that scan, small or large', async () => {
    const t = throttle();
    for (const rows of [10, 100_000]) {
      const s = scanOf(rows);
      s.held = true;
      const reads = Promise.all([t.read(`k${rows}`, s.scan), t.read(`k${rows}`, s.scan)]);
      await settle();
      s.release();
      expect(await reads).toEqual(['scan 1', 'scan 1']);
      expect(s.calls).toBe(1);
    }
  });

  it('keeps keys apart', async () => {
    const t = throttle();
    const a = scanOf(100_000);
    const b = scanOf(100_000);
    expect(await t.read('a', a.scan)).toBe('scan 1');
    expect(await t.read('b', b.scan)).toBe('scan 1');
    expect(await t.read('a', a.scan)).toBe('scan 1');
    expect([a.calls, b.calls]).toEqual([1, 1]);
  });

  it('forgets a key whose next scan failed: the read after it scans itself and gets the error', async () => {
    const t = throttle();
    const s = scanOf(100_000);
    await t.read('k', s.scan);
    clock += 10_000;
    const failing = () => Promise.reject(new Error('statement timeout'));
    expect(await t.read('k', failing)).toBe('scan 1');
    await settle();
    await expect(t.read('k', failing)).rejects.toThrow('statement timeout');
    expect(await t.read('k', s.scan)).toBe('scan 2');
  });

  it('reads a key that became small fresh again', async () => {
    const t = throttle();
    let rows = 100_000;
    let calls = 0;
    const scan = async () => ({ value: ++calls, rows });
    await t.read('k', scan);
    clock += 10_000;
    rows = 10;
    expect(await t.read('k', scan)).toBe(1);
    await settle();
    expect(await t.read('k', scan)).toBe(3);
    expect(await t.read('k', scan)).toBe(4);
  });

  it('holds at most maxKeys keys, dropping the oldest', async () => {
    const t = throttle({ maxKeys: 2 });
    const scans = ['a', 'b', 'c'].map(() => scanOf(100_000));
    await t.read('a', scans[0]!.scan);
    await t.read('b', scans[1]!.scan);
    await t.read('c', scans[2]!.scan);
    await t.read('b', scans[1]!.scan);
    await t.read('a', scans[0]!.scan);
    expect(scans.map((s) => s.calls)).toEqual([2, 1, 1]);
  });
});
