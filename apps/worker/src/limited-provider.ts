import { createSegmentRateLimiter } from '../../../lib/segment-rate-limiter';
import { withSegmentLimit } from '../../../domain/messaging/providers/segment-limited';
import type { SmsProvider } from '../../../domain/messaging/providers/provider';
import type { WorkerDeps } from './deps';

const limited = new WeakMap<WorkerDeps, SmsProvider>();

/**
 * The worker's provider behind the shared segments-per-second limit
 * (SMS_PROVIDER_MPS): every send path (campaign batches, keyword replies)
 * calls the provider through this, so all of them, in every worker process,
 * share one budget. One wrapper per deps (its limiter holds no state of its
 * own; the counters are in Redis).
 */
export function limitedProvider(deps: WorkerDeps): SmsProvider | undefined {
  if (!deps.provider) return undefined;
  let p = limited.get(deps);
  if (!p) {
    const limiter = createSegmentRateLimiter({ redis: deps.redis, prefix: deps.config.QUEUE_PREFIX, perSecond: deps.config.SMS_PROVIDER_MPS });
    p = withSegmentLimit(deps.provider, limiter, {
      // Half the claim's lease: a batch that waits longer gives its claim back instead of risking a takeover.
      maxWaitMs: Math.max(1_000, Math.floor(deps.config.SEND_LEASE_MS / 2)),
      onWait: (seconds, outcome) => deps.metrics.smsThrottleWait.observe({ outcome }, seconds),
    });
    limited.set(deps, p);
  }
  return p;
}
