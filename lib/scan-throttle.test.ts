import { ScanThrottle } from './scan-throttle';

describe('ScanThrottle', () => {
  let clock = 0;
  const throttle = (o: { maxKeys?: number } = {}) => new ScanThrottle({ minRows: 1_000, msPerRow: 0.01, maxKeys: o.maxKeys ?? 10, now: () => clock });
  beforeEach(() => {
    clock = 1_000_000;
  });

  /** A scan that counts its calls and reads `rows` rows. */
  function scanOf(rows: number) {
    const s = { calls: 0, scan: async () => ({ value: `scan ${++s.calls}`, rows }) };
    return s;
  }

  it('reads a small scan fresh every time', async () => {
    const t = throttle();
    const s = scanOf(999);
    expect(await t.read('k', s.scan)).toBe('scan 1');
    expect(await t.read('k', s.scan)).toBe('scan 2');
    expect(s.calls).toBe(2);
  });

  it('answers a large scan from the last one for msPerRow per row it read, then scans again', async () => {
    const t = throttle();
    const s = scanOf(100_000); // kept 1 000 ms
    expect(await t.read('k', s.scan)).toBe('scan 1');
    clock += 999;
    expect(await t.read('k', s.scan)).toBe('scan 1');
    clock += 1;
    expect(await t.read('k', s.scan)).toBe('scan 2');
    expect(s.calls).toBe(2);
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

  it('gives concurrent reads of a large key one scan', async () => {
    const t = throttle();
    const s = scanOf(100_000);
    await t.read('k', s.scan);
    clock += 10_000;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = async () => {
      await gate;
      return s.scan();
    };
    const reads = [t.read('k', slow), t.read('k', slow), t.read('k', slow)];
    release();
    expect(await Promise.all(reads)).toEqual(['scan 2', 'scan 2', 'scan 2']);
    expect(s.calls).toBe(2);
  });

  it('keeps nothing from a failed scan: the next read scans again', async () => {
    const t = throttle();
    const s = scanOf(100_000);
    await t.read('k', s.scan);
    clock += 10_000;
    await expect(t.read('k', () => Promise.reject(new Error('statement timeout')))).rejects.toThrow('statement timeout');
    expect(await t.read('k', s.scan)).toBe('scan 2');
  });

  it('a key that became small reads fresh again', async () => {
    const t = throttle();
    let rows = 100_000;
    let calls = 0;
    const scan = async () => ({ value: ++calls, rows });
    await t.read('k', scan);
    clock += 10_000;
    rows = 10;
    expect(await t.read('k', scan)).toBe(2);
    expect(await t.read('k', scan)).toBe(3);
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
