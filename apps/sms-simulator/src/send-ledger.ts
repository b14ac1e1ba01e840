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
  accept(reference: string | undefined): string {
    const id = `sim-${(this.counter++).toString(36)}-${this.bootToken}`;
    this.messagesAccepted++;
    if (reference === undefined) return id;
    if (this.idsByReference.has(reference)) {
      this.duplicatesSent++;
      this.resendsByReference.set(reference, (this.resendsByReference.get(reference) ?? 0) + 1);
    } else this.idsByReference.set(reference, id);
    return id;
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
    this.idsByReference.clear();
    this.duplicatesByReference.clear();
    this.resendsByReference.clear();
  }
}
