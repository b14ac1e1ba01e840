import { randomBytes } from 'node:crypto';

// Exact counts and the reference → provider id map behind `/_stats`.

export interface SimulatorStats {
  requests: number;
  messagesAccepted: number;
  uniqueReferences: number;
  duplicatesSuppressed: number;
  /** Repeats of a reference that were sent again (only when not deduplicating). */
  duplicatesSent: number;
}

/** `GET /_throughput`: what arrived, counted as a carrier counts it. */
export interface ThroughputStats {
  /** Segments of every new send (as a carrier counts them: text and type). */
  segmentsAccepted: number;
  /**
   * The rate sends arrived at, in segments per second: the segments of every
   * request with new sends but the last, over the time from the first such
   * request to the last (null until two requests came at different times).
   * What a provider enforcing a per-second limit would see.
   */
  segmentsPerSecond: number | null;
  firstSendAt: string | null;
  lastSendAt: string | null;
}

export interface ReferenceStats {
  reference: string;
  /** Real sends of this reference: at most 1 when repeats are suppressed. */
  sends: number;
  /** Repeats of the reference that were answered with the first id and not sent. */
  duplicates: number;
  providerId: string | null;
}

export class SendLedger {
  requests = 0;
  messagesAccepted = 0;
  duplicatesSuppressed = 0;
  duplicatesSent = 0;
  segmentsAccepted = 0;
  private requestSegments = 0;
  private lastRequestSegments = 0;
  private firstSendMs: number | null = null;
  private lastSendMs: number | null = null;
  private readonly idsByReference = new Map<string, string>();
  // Only references that were repeated get an entry, so the common path adds nothing.
  private readonly duplicatesByReference = new Map<string, number>();
  private readonly resendsByReference = new Map<string, number>();
  // Never reset, and prefixed per boot, so an id is never handed out twice even
  // across `/_reset` or a restart (the API stores provider ids as unique).
  private counter = 0;
  private readonly bootToken = randomBytes(4).toString('hex');

  /** `dedupsByReference` false: a repeated reference is a new SMS with a new id, as with a provider that does not dedup. */
  constructor(readonly dedupsByReference = true) {}

  /** The id already given to `reference`, counting the repeat; undefined when it is new (or repeats are not suppressed). */
  duplicateOf(reference: string): string | undefined {
    if (!this.dedupsByReference) return undefined;
    const id = this.idsByReference.get(reference);
    if (id !== undefined) {
      this.duplicatesSuppressed++;
      this.duplicatesByReference.set(reference, (this.duplicatesByReference.get(reference) ?? 0) + 1);
    }
    return id;
  }

  /** A new send; returns its fresh provider id. */
  accept(reference: string | undefined, segments = 1): string {
    const id = `sim-${(this.counter++).toString(36)}-${this.bootToken}`;
    this.messagesAccepted++;
    this.requestSegments += segments;
    if (reference === undefined) return id;
    if (this.idsByReference.has(reference)) {
      this.duplicatesSent++;
      this.resendsByReference.set(reference, (this.resendsByReference.get(reference) ?? 0) + 1);
    } else this.idsByReference.set(reference, id);
    return id;
  }

  /** Ends a send request: its new sends' segments join the throughput figures, timed `atMs`. */
  endRequest(atMs: number): void {
    if (this.requestSegments === 0) return;
    this.segmentsAccepted += this.requestSegments;
    this.lastRequestSegments = this.requestSegments;
    this.requestSegments = 0;
    this.firstSendMs ??= atMs;
    this.lastSendMs = atMs;
  }

  throughput(): ThroughputStats {
    const span = this.firstSendMs !== null && this.lastSendMs !== null ? this.lastSendMs - this.firstSendMs : 0;
    return {
      segmentsAccepted: this.segmentsAccepted,
      segmentsPerSecond: span > 0 ? Math.round(((this.segmentsAccepted - this.lastRequestSegments) * 1000 * 100) / span) / 100 : null,
      firstSendAt: this.firstSendMs === null ? null : new Date(this.firstSendMs).toISOString(),
      lastSendAt: this.lastSendMs === null ? null : new Date(this.lastSendMs).toISOString(),
    };
  }

  stats(): SimulatorStats {
    return {
      requests: this.requests,
      messagesAccepted: this.messagesAccepted,
      uniqueReferences: this.idsByReference.size,
      duplicatesSuppressed: this.duplicatesSuppressed,
      duplicatesSent: this.duplicatesSent,
    };
  }

  referenceStats(reference: string): ReferenceStats {
    const providerId = this.idsByReference.get(reference) ?? null;
    return {
      reference,
      sends: providerId === null ? 0 : 1 + (this.resendsByReference.get(reference) ?? 0),
      duplicates: this.duplicatesByReference.get(reference) ?? 0,
      providerId,
    };
  }

  reset(): void {
    this.requests = 0;
    this.messagesAccepted = 0;
    this.duplicatesSuppressed = 0;
    this.duplicatesSent = 0;
    this.segmentsAccepted = 0;
    this.requestSegments = 0;
    this.lastRequestSegments = 0;
    this.firstSendMs = null;
    this.lastSendMs = null;
    this.idsByReference.clear();
    this.duplicatesByReference.clear();
    this.resendsByReference.clear();
  }
}
