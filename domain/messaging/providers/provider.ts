// The contract every SMS provider adapter keeps. The send pipeline relies on one
// rule above all: a result is only `rejected` when the provider certainly did not
// take the message. Whenever the request may have reached the provider and we
// could not read its answer, the result is `unknown`; the caller then decides,
// from `dedupsByReference`, whether re-sending with the same reference is safe.

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface OutboundMessage {
  /** Client reference (our recipient id); echoed in delivery reports, used for provider-side dedup. */
  reference: string;
  /** E.164 with leading '+'. */
  to: string;
  text: string;
  from: string;
  encoding: SmsEncoding;
  /** Segments the sender counted for this text in this encoding (the segments limiter counts them when absent). */
  segments?: number;
}

export type SendResult =
  | { reference: string; outcome: 'accepted'; providerMessageId: string }
  | { reference: string; outcome: 'rejected'; code: string; permanent: boolean }
  | { reference: string; outcome: 'unknown'; reason: string };

export interface SendContext {
  traceId: string;
  signal?: AbortSignal;
}

export interface SmsProvider {
  readonly name: string;
  /** True when re-sending a message with the same reference cannot produce a second SMS. */
  readonly dedupsByReference: boolean;
  /** Largest batch one provider call takes; `sendBatch` splits bigger input itself. */
  readonly maxBatchSize: number;
  /**
   * Results come back in input order, one per message. Throws one of the
   * Provider*Error classes below only when NOTHING in the batch was accepted.
   */
  sendBatch(messages: OutboundMessage[], ctx: SendContext): Promise<SendResult[]>;
}

/** Base of every whole-request failure; all of them guarantee nothing was accepted. */
export abstract class ProviderError extends Error {
  abstract readonly retryable: boolean;
  constructor(
    message: string,
    readonly provider: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** 429: pause sending for `retryAfterMs`; retrying does not burn an attempt. */
export class ProviderRateLimitedError extends ProviderError {
  readonly retryable = true;
  constructor(
    provider: string,
    readonly retryAfterMs: number,
  ) {
    super(`${provider} rate limited the request; retry after ${retryAfterMs} ms`, provider);
  }
}

/** 5xx, connection refused, or a timeout before the request was fully written. Transient. */
export class ProviderUnavailableError extends ProviderError {
  readonly retryable = true;
  constructor(
    provider: string,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, provider, options);
  }
}

/**
 * The provider refused the request as a whole (bad API key, malformed request).
 * Retrying unchanged will fail the same way; it needs an operator, not backoff.
 */
export class ProviderRequestError extends ProviderError {
  readonly retryable = false;
  constructor(
    provider: string,
    message: string,
    readonly status: number,
  ) {
    super(message, provider);
  }
}
