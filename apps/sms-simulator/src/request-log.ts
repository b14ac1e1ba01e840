// The last N send requests with the trace headers they carried, so a test can
// follow one trace id from the API through the worker to the provider call.

export interface LoggedRequest {
  requestId: string | null;
  traceparent: string | null;
  path: string;
  receivedAt: string;
  references: readonly string[];
}

export interface ReferenceTraces {
  reference: string;
  /** Distinct X-Request-Id values and W3C trace ids, oldest first. */
  traceIds: string[];
  requests: Array<Omit<LoggedRequest, 'references'>>;
}

// W3C traceparent: version-traceid-parentid-flags; the trace id is field 2.
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/i;

export class RequestLog {
  private readonly entries: Array<LoggedRequest | undefined>;
  private next = 0;

  constructor(private readonly size: number) {
    this.entries = new Array<LoggedRequest | undefined>(size);
  }

  add(entry: LoggedRequest): void {
    this.entries[this.next] = entry;
    this.next = (this.next + 1) % this.size;
  }

  clear(): void {
    this.entries.fill(undefined);
    this.next = 0;
  }

  tracesFor(reference: string): ReferenceTraces {
    const traceIds: string[] = [];
    const requests: ReferenceTraces['requests'] = [];
    for (let i = 0; i < this.size; i++) {
      const entry = this.entries[(this.next + i) % this.size];
      if (!entry || !entry.references.includes(reference)) continue;
      requests.push({
        requestId: entry.requestId,
        traceparent: entry.traceparent,
        path: entry.path,
        receivedAt: entry.receivedAt,
      });
      const traceId = entry.traceparent ? TRACEPARENT.exec(entry.traceparent)?.[1] : undefined;
      for (const id of [entry.requestId, traceId]) {
        if (id && !traceIds.includes(id)) traceIds.push(id);
      }
    }
    return { reference, traceIds, requests };
  }
}
