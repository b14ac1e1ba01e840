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
    // A batch that cannot get its segments within half its lease may outlive its claim
    // (taken over: re-sent only to a deduplicating provider, else recorded unknown).
    const batchMs = ((deps.config.SEND_BATCH_SIZE * 2) / deps.config.SMS_PROVIDER_MPS) * 1000;
    if (batchMs > deps.config.SEND_LEASE_MS / 2) {
      deps.logger.warn(
        { SEND_BATCH_SIZE: deps.config.SEND_BATCH_SIZE, SMS_PROVIDER_MPS: deps.config.SMS_PROVIDER_MPS, SEND_LEASE_MS: deps.config.SEND_LEASE_MS },
        'a batch of 2-segment messages needs more than half the send lease at SMS_PROVIDER_MPS: lower SEND_BATCH_SIZE or raise SEND_LEASE_MS',
      );
    }
    p = withSegmentLimit(deps.provider, limiter, {
      // Half the claim's lease: a batch that waits longer gives its claim back instead of risking a takeover.
      maxWaitMs: Math.max(1_000, Math.floor(deps.config.SEND_LEASE_MS / 2)),
      onWait: (seconds, outcome) => deps.metrics.smsThrottleWait.observe({ outcome }, seconds),
    });
    limited.set(deps, p);
  }
  return p;
}
