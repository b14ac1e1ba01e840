import { createCallbackPool, postSigned, type CallbackPool } from './signed-post';

// Delivery reports for accepted messages, posted to the API after a delay with
// bounded concurrency. Pending reports sit in parallel arrays rather than one
// object each, because at bulk rates the queue can hold millions of them.

export interface DlrOptions {
  url: string;
  /** The provider id with a sequence number (SendLedger.providerId): ids are queued as numbers, made when the report is. */
  providerId: (seq: number) => string;
  secret: string;
  delayMs: number;
  deliveredRatio: number;
  concurrency: number;
  maxPending: number;
  /**
   * Reports per callback: 1 posts each report on its own (the single form);
   * more posts the due reports together as `{"reports": [...]}` under one
   * signature, up to this many per request (the batched form).
   */
  batchSize?: number;
  timeoutMs?: number;
  retryDelaysMs?: readonly number[];
}

export interface DlrStats {
  dlrQueued: number;
  dlrPosted: number;
  dlrFailed: number;
  dlrDropped: number;
  dlrPending: number;
  dlrInFlight: number;
  statusDelivered: number;
  statusFailed: number;
}

interface ReadyReport {
  body: string;
  attempt: number;
  /** Reports in the body. */
  reports: number;
}

// Reasons a handset is not reached; only there so failed reports look realistic.
const FAILURE_CODES = ['absent_subscriber', 'unknown_subscriber', 'network_error', 'rejected_by_operator'] as const;

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export class DlrDispatcher {
  private readonly url: URL;
  private readonly pool: CallbackPool;
  private readonly timeoutMs: number;
  private readonly retryDelaysMs: readonly number[];
  private readonly batchSize: number;

  private seqs: number[] = [];
  private refs: Array<string | undefined> = [];
  private due: number[] = [];
  private head = 0;
  private ready: ReadyReport[] = [];
  /** Reports in `ready` (a body may hold many). */
  private readyReports = 0;
  private inFlight = 0;
  private waitingRetries = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly active = new Set<AbortController>();
  // Bumped by reset/stop so that late completions of old posts are not counted.
  private epoch = 0;
  private stopped = false;
  private stampMs = -1;
  private stamp = '';

  private counters = { queued: 0, posted: 0, failed: 0, dropped: 0, delivered: 0, failedStatus: 0 };

  constructor(private readonly opts: DlrOptions) {
    this.url = new URL(opts.url);
    this.pool = createCallbackPool(this.url, opts.concurrency);
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.retryDelaysMs = opts.retryDelaysMs ?? [250, 1_000, 4_000];
    this.batchSize = Math.max(1, Math.floor(opts.batchSize ?? 1));
  }

  get pending(): number {
    return this.seqs.length - this.head + this.readyReports + this.waitingRetries;
  }

  enqueue(seq: number, reference: string | undefined): void {
    if (this.stopped) return;
    if (this.pending >= this.opts.maxPending) {
      this.counters.dropped++;
      return;
    }
    this.seqs.push(seq);
    this.refs.push(reference);
    this.due.push(Date.now() + this.opts.delayMs);
    this.counters.queued++;
    if (this.timer === undefined && this.inFlight < this.opts.concurrency) this.schedule();
  }

  stats(): DlrStats {
    const c = this.counters;
    return {
      dlrQueued: c.queued,
      dlrPosted: c.posted,
      dlrFailed: c.failed,
      dlrDropped: c.dropped,
      dlrPending: this.pending,
      dlrInFlight: this.inFlight,
      statusDelivered: c.delivered,
      statusFailed: c.failedStatus,
    };
  }

  reset(): void {
    this.clearWork();
    this.counters = { queued: 0, posted: 0, failed: 0, dropped: 0, delivered: 0, failedStatus: 0 };
  }

  stop(): void {
    this.stopped = true;
    this.clearWork();
    void this.pool.destroy();
  }

  private clearWork(): void {
    this.epoch++;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    for (const request of this.active) request.abort();
    this.active.clear();
    this.seqs = [];
    this.refs = [];
    this.due = [];
    this.head = 0;
    this.ready = [];
    this.readyReports = 0;
    this.inFlight = 0;
    this.waitingRetries = 0;
  }

  private schedule(): void {
    if (this.timer !== undefined || this.head >= this.seqs.length) return;
    const wait = Math.max(0, (this.due[this.head] as number) - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, wait);
  }

  private pump(): void {
    const now = Date.now();
    while (this.inFlight < this.opts.concurrency) {
      let report = this.ready.shift();
      if (report !== undefined) this.readyReports -= report.reports;
      else {
        if (this.head >= this.seqs.length || (this.due[this.head] as number) > now) break;
        report = this.batchSize === 1 ? this.single() : this.batch(now);
      }
      this.post(report);
    }
    this.compact();
    if (this.inFlight < this.opts.concurrency) this.schedule();
  }

  // Drop the consumed prefix now and then instead of shifting on every pop.
  private compact(): void {
    if (this.head === this.seqs.length) {
      this.seqs = [];
      this.refs = [];
      this.due = [];
      this.head = 0;
    } else if (this.head > 65_536 && this.head * 2 > this.seqs.length) {
      this.seqs = this.seqs.slice(this.head);
      this.refs = this.refs.slice(this.head);
      this.due = this.due.slice(this.head);
      this.head = 0;
    }
  }

  private single(): ReadyReport {
    const body = this.buildBody(this.seqs[this.head] as number, this.refs[this.head]);
    this.head++;
    return { body, attempt: 0, reports: 1 };
  }

  // Every report already due, up to the batch size: no waiting to fill a
  // batch, so a quiet period still gets its reports at once.
  private batch(now: number): ReadyReport {
    const parts: string[] = [];
    while (parts.length < this.batchSize && this.head < this.seqs.length && (this.due[this.head] as number) <= now) {
      parts.push(this.buildBody(this.seqs[this.head] as number, this.refs[this.head]));
      this.head++;
    }
    return { body: `{"reports":[${parts.join(',')}]}`, attempt: 0, reports: parts.length };
  }

  // The status is decided once, when the report is first built, so retries
  // repeat the same report instead of rolling the dice again.
  private buildBody(seq: number, reference: string | undefined): string {
    const delivered = Math.random() < this.opts.deliveredRatio;
    if (delivered) this.counters.delivered++;
    else this.counters.failedStatus++;
    const ref = reference === undefined ? '' : `,"reference":${JSON.stringify(reference)}`;
    const tail = delivered
      ? `"status":"delivered"`
      : `"status":"failed","errorCode":"${FAILURE_CODES[Math.floor(Math.random() * FAILURE_CODES.length)]}"`;
    return `{"id":"${this.opts.providerId(seq)}"${ref},${tail},"timestamp":"${this.timestamp()}"}`;
  }

  // A batch's reports are built within the same millisecond or two: the ISO
  // text is made once per millisecond, not once per report.
  private timestamp(): string {
    const now = Date.now();
    if (now !== this.stampMs) {
      this.stampMs = now;
      this.stamp = new Date(now).toISOString();
    }
    return this.stamp;
  }

  private post(report: ReadyReport): void {
    const epoch = this.epoch;
    this.inFlight++;
    const request = new AbortController();
    this.active.add(request);
    const done = (ok: boolean, retryable: boolean): void => {
      if (epoch !== this.epoch) return;
      this.active.delete(request);
      this.inFlight--;
      if (ok) this.counters.posted += report.reports;
      else if (retryable && report.attempt < this.retryDelaysMs.length) this.retryLater(report);
      else this.counters.failed += report.reports;
      this.pump();
    };
    postSigned(this.pool, this.url, report.body, this.opts.secret, this.timeoutMs, request.signal).then(
      (res) => done(res.status >= 200 && res.status < 300, isRetryableStatus(res.status)),
      () => done(false, true),
    );
  }

  private retryLater(report: ReadyReport): void {
    const delay = this.retryDelaysMs[report.attempt] ?? 0;
    this.waitingRetries += report.reports;
    const t = setTimeout(() => {
      this.retryTimers.delete(t);
      this.waitingRetries -= report.reports;
      this.ready.push({ body: report.body, attempt: report.attempt + 1, reports: report.reports });
      this.readyReports += report.reports;
      this.pump();
    }, delay);
    this.retryTimers.add(t);
  }
}
