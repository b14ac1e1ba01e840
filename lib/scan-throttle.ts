/**
 * Bounds what reads that scan a whole campaign may cost, whoever asks and
 * however often: a read of a large campaign is answered from the last scan,
 * and once that scan is older than its size allows (`msPerRow` for each row
 * it read) one read starts the next scan in the background while every read
 * keeps getting the last answer until it lands. So per key and process there
 * is at most one scan at a time and one per interval, and only the first
 * read of a key waits for a scan. A scan of fewer than `minRows` rows is not
 * kept: small campaigns are read fresh every time (requests that arrive
 * while one of their scans runs share it).
 *
 * Why: the merchant's campaign page polls its statistics every second, and
 * each poll read every recipient (~1 µs a row here: a second of Postgres for
 * a million). Unbounded, two open tabs on one shop's big campaign take a core
 * from every other shop's sends; bounded at 10 µs a row, a key costs at most
 * about a tenth of a core per process, whatever the number of viewers.
 */
export interface ScanThrottleOptions {
  /** Scans of at least this many rows are kept and shared. */
  minRows: number;
  /** How long a kept scan answers before the next one starts, per row it read. */
  msPerRow: number;
  /** Keys kept at most (the oldest is dropped first). */
  maxKeys: number;
  now?: () => number;
}

interface Entry {
  value: unknown;
  freshUntil: number;
  refreshing: boolean;
}

export class ScanThrottle {
  private readonly entries = new Map<string, Entry>();
  /** Keys with nothing kept whose scan is running: reads meanwhile wait for it rather than start their own. */
  private readonly first = new Map<string, Promise<unknown>>();
  private readonly now: () => number;

  constructor(private readonly o: ScanThrottleOptions) {
    this.now = o.now ?? Date.now;
  }

  /** `scan` resolves to its value and the number of rows it read. */
  async read<T>(key: string, scan: () => Promise<{ value: T; rows: number }>): Promise<T> {
    const entry = this.entries.get(key);
    if (!entry) {
      const running = this.first.get(key) as Promise<T> | undefined;
      if (running) return running;
      const started = scan().then((r) => {
        this.keep(key, r);
        return r.value;
      });
      this.first.set(key, started);
      try {
        return await started;
      } finally {
        this.first.delete(key);
      }
    }
    if (!entry.refreshing && this.now() >= entry.freshUntil) {
      entry.refreshing = true;
      // A failed refresh forgets the key: the next read scans itself and sees the error.
      scan().then(
        (r) => this.keep(key, r),
        () => this.entries.delete(key),
      );
    }
    return entry.value as T;
  }

  private keep(key: string, r: { value: unknown; rows: number }): void {
    this.entries.delete(key);
    if (r.rows < this.o.minRows) return;
    if (this.entries.size >= this.o.maxKeys) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value: r.value, freshUntil: this.now() + r.rows * this.o.msPerRow, refreshing: false });
  }
}

/** The api's: campaigns of 10 000 recipients and more, 10 µs a row (a million: one scan per 10 s). */
export const CAMPAIGN_SCAN_LIMITS: ScanThrottleOptions = { minRows: 10_000, msPerRow: 0.01, maxKeys: 1_000 };
