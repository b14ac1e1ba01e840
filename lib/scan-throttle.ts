/**
 * Bounds what reads that scan a whole campaign may cost, whoever asks and
 * however often: a read of a large campaign is answered from the last scan
 * until that scan is older than its size allows (`msPerRow` for each row it
 * read), and concurrent reads of one key share one scan. A read of fewer
 * than `minRows` rows is never kept, so small campaigns always read fresh.
 *
 * Why: the merchant's campaign page polls its statistics every second, and
 * each poll reads every recipient (~1 µs a row here: a second of Postgres for
 * a million). Unbounded, two open tabs on one shop's big campaign take a core
 * from every other shop's sends; bounded at 10 µs a row, a scan costs at most
 * about a tenth of a core per key and process, whatever the number of viewers.
 */
export interface ScanThrottleOptions {
  /** Scans of at least this many rows are kept and shared. */
  minRows: number;
  /** How long a kept scan answers, per row it read. */
  msPerRow: number;
  /** Keys kept at most (the oldest is dropped first). */
  maxKeys: number;
  now?: () => number;
}

interface Entry<T> {
  value?: T;
  freshUntil: number;
  inFlight?: Promise<T>;
}

export class ScanThrottle {
  private readonly entries = new Map<string, Entry<unknown>>();
  private readonly now: () => number;

  constructor(private readonly o: ScanThrottleOptions) {
    this.now = o.now ?? Date.now;
  }

  /** `scan` resolves to its value and the number of rows it read. */
  async read<T>(key: string, scan: () => Promise<{ value: T; rows: number }>): Promise<T> {
    const entry = this.entries.get(key) as Entry<T> | undefined;
    if (entry?.inFlight) return entry.inFlight;
    if (entry && entry.value !== undefined && this.now() < entry.freshUntil) return entry.value;
    // Only a key already known to be large shares its scan: a small one reads on its own, always fresh.
    if (!entry) return this.first(key, scan);
    const inFlight = scan().then(
      (r) => {
        this.keep(key, r);
        return r.value;
      },
      (err: unknown) => {
        this.entries.delete(key);
        throw err;
      },
    );
    entry.inFlight = inFlight;
    return inFlight;
  }

  private async first<T>(key: string, scan: () => Promise<{ value: T; rows: number }>): Promise<T> {
    const r = await scan();
    this.keep(key, r);
    return r.value;
  }

  private keep<T>(key: string, r: { value: T; rows: number }): void {
    this.entries.delete(key);
    if (r.rows < this.o.minRows) return;
    if (this.entries.size >= this.o.maxKeys) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value: r.value, freshUntil: this.now() + r.rows * this.o.msPerRow });
  }
}

/** The api's: campaigns of 10 000 recipients and more, 10 µs a row (a million: one scan per 10 s). */
export const CAMPAIGN_SCAN_LIMITS: ScanThrottleOptions = { minRows: 10_000, msPerRow: 0.01, maxKeys: 1_000 };
