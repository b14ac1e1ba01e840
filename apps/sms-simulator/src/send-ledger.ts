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
  // Reference → the sequence number of its provider id (see providerId): a
  // number, not the id string, so the map that grows by every reference ever
  // sent holds no second string per entry for the garbage collector to trace.
  private readonly seqByReference = new Map<string, number>();
  // Only references that were repeated get an entry, so the common path adds nothing.
  private readonly duplicatesByReference = new Map<string, number>();
  private readonly resendsByReference = new Map<string, number>();
  // Never reset, and suffixed per boot, so an id is never handed out twice even
  // across `/_reset` or a restart (the API stores provider ids as unique).
  private counter = 0;
  private readonly idSuffix = `-${randomBytes(4).toString('hex')}`;

  /** `dedupsByReference` false: a repeated reference is a new SMS with a new id, as with a provider that does not dedup. */
  constructor(readonly dedupsByReference = true) {}

  /** The provider id with sequence number `seq`. */
  providerId(seq: number): string {
    return `sim-${seq.toString(36)}${this.idSuffix}`;
  }

  /**
   * One valid message: returns the sequence number of the provider id it is
   * answered with. A repeat of a reference, when repeats are suppressed, gets
   * the first send's and is counted; anything else is a new send, reported to
   * `onNew`. One map lookup per message: the map holds every reference sent.
   */
  send(reference: string | undefined, segments: number, onNew: (seq: number, reference: string | undefined) => void): number {
    const first = reference === undefined ? undefined : this.seqByReference.get(reference);
    if (first !== undefined && this.dedupsByReference) {
      this.duplicatesSuppressed++;
      this.duplicatesByReference.set(reference as string, (this.duplicatesByReference.get(reference as string) ?? 0) + 1);
      return first;
    }
    const seq = this.counter++;
    this.messagesAccepted++;
    this.requestSegments += segments;
    if (first !== undefined) {
      this.duplicatesSent++;
      this.resendsByReference.set(reference as string, (this.resendsByReference.get(reference as string) ?? 0) + 1);
    } else if (reference !== undefined) this.seqByReference.set(reference, seq);
    onNew(seq, reference);
    return seq;
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
      uniqueReferences: this.seqByReference.size,
      duplicatesSuppressed: this.duplicatesSuppressed,
      duplicatesSent: this.duplicatesSent,
    };
  }

  referenceStats(reference: string): ReferenceStats {
    const seq = this.seqByReference.get(reference);
    return {
      reference,
      sends: seq === undefined ? 0 : 1 + (this.resendsByReference.get(reference) ?? 0),
      duplicates: this.duplicatesByReference.get(reference) ?? 0,
      providerId: seq === undefined ? null : this.providerId(seq),
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
    this.seqByReference.clear();
    this.duplicatesByReference.clear();
    this.resendsByReference.clear();
  }
}
