import type { RequestHandler } from 'express';
import { AppError } from '../../../../lib/errors';
import { QUEUES } from '../../../../queue/names';
import type { ApiDeps } from '../deps';

type Deps = Pick<ApiDeps, 'config' | 'queues' | 'logger'>;

/**
 * Jobs waiting in the queues that campaign work lands on, read from Redis at
 * most once per `maxAgeMs` however many requests ask (one read in flight).
 */
export function queueDepthReader(deps: Deps, maxAgeMs = 1_000): () => Promise<number> {
  let cached: { at: number; depth: number } | undefined;
  let inflight: Promise<number> | undefined;
  return async () => {
    if (cached && Date.now() - cached.at < maxAgeMs) return cached.depth;
    inflight ??= (async () => {
      try {
        const counts = await Promise.all(
          [QUEUES.sends, QUEUES.campaigns].map((q) => deps.queues.get(q).getJobCounts('waiting', 'prioritized')),
        );
        const depth = counts.reduce((sum, c) => sum + (c.waiting ?? 0) + (c.prioritized ?? 0), 0);
        cached = { at: Date.now(), depth };
        return depth;
      } catch (err) {
        // Unknown depth does not shed: enqueue writes only to Postgres, and the
        // outbox publishes once Redis is back.
        deps.logger.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'queue depth unavailable; not shedding');
        return cached?.depth ?? 0;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };
}

/**
 * 503 OVERLOADED while more than QUEUE_MAX_DEPTH jobs wait. Mounted before the
 * idempotency middleware, so a shed request writes nothing at all, not even
 * its key: the client retries later with the same key.
 */
export function shedWhenOverloaded(deps: Deps, onShed: () => void = () => undefined): RequestHandler {
  const depth = queueDepthReader(deps);
  return async (_req, _res, next) => {
    const waiting = await depth();
    if (waiting > deps.config.QUEUE_MAX_DEPTH) {
      onShed();
      throw new AppError('OVERLOADED', 'Too much work is queued; retry later', { headers: { 'Retry-After': '5' } });
    }
    next();
  };
}
