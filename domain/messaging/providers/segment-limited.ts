import type { SegmentRateLimiter } from '../../../lib/segment-rate-limiter';
import { countSegments, segmentsForUnits } from '../segments';
import { ProviderRateLimitedError, ProviderUnavailableError, type OutboundMessage, type SmsProvider } from './provider';

/** Segments a message costs as it will be sent (its encoding may be forced to UCS-2); the sender's own count when it gave one. */
export function messageSegments(m: OutboundMessage): number {
  if (m.segments !== undefined) return m.segments;
  const c = countSegments(m.text);
  return c.encoding === m.encoding ? c.segments : segmentsForUnits(m.encoding, m.text.length);
}

export interface SegmentLimitOptions {
  /**
   * Longest a call waits for its segments before giving up as rate limited;
   * a call needing more than that even at the full rate gets 1.5 × what it
   * needs (else it could never go: it would give up on every attempt).
   */
  maxWaitMs: number;
  /** Seconds of wait observed per call (sms_provider_throttle_wait_seconds). */
  onWait?: (seconds: number, outcome: 'sent' | 'gave_up') => void;
}

/**
 * The provider behind SMS_PROVIDER_MPS counted in segments: every call first
 * takes its messages' segments from the shared limiter (a batch of N
 * recipients takes their total), then goes out as one request. A call that
 * cannot get them within `maxWaitMs` sends nothing and fails as rate limited,
 * which the send pipeline already handles (claim given back, queue paused,
 * job retried without spending an attempt). A limiter that cannot be reached
 * sends nothing either: an unavailable provider, retried with backoff.
 */
export function withSegmentLimit(provider: SmsProvider, limiter: Pick<SegmentRateLimiter, 'acquire' | 'slotMs' | 'perSecond'>, o: SegmentLimitOptions): SmsProvider {
  return {
    name: provider.name,
    dedupsByReference: provider.dedupsByReference,
    maxBatchSize: provider.maxBatchSize,
    async sendBatch(messages, ctx) {
      let segments = 0;
      for (const m of messages) segments += messageSegments(m);
      const started = Date.now();
      const atFullRateMs = (segments / limiter.perSecond) * 1000;
      let granted: boolean;
      try {
        granted = await limiter.acquire(segments, { deadline: started + Math.max(o.maxWaitMs, Math.ceil(atFullRateMs * 1.5)) });
      } catch (err) {
        throw new ProviderUnavailableError(provider.name, `segment rate limiter unavailable: ${(err as Error).message}`, undefined, { cause: err });
      }
      o.onWait?.((Date.now() - started) / 1000, granted ? 'sent' : 'gave_up');
      if (!granted) throw new ProviderRateLimitedError(provider.name, Math.max(limiter.slotMs, 1_000));
      return provider.sendBatch(messages, ctx);
    },
  };
}
