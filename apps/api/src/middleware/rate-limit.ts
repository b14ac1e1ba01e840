import type { Request, Response } from 'express';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../../../../lib/errors';
import type { ApiDeps } from '../deps';

export const RATE_LIMIT_GROUPS = ['general', 'campaigns', 'imports', 'billing'] as const;
export type RateLimitGroup = (typeof RATE_LIMIT_GROUPS)[number];

/**
 * Which budget a request (path relative to /api) spends; each request spends
 * exactly one. Chosen before routing, so in any letter case: a respelled path
 * is 404 (routing is exact) but spends the budget of the route it spells.
 * Only starting an import spends the scarce imports budget: reading an
 * import's status and paging its rejections are ordinary reads.
 */
export function rateLimitGroupOf(method: string, path: string): RateLimitGroup {
  if (method !== 'GET' && method !== 'HEAD' && /^\/contacts\/import(s)?(\/|$)/i.test(path)) return 'imports';
  if (/^\/campaigns(\/|$)/i.test(path)) return 'campaigns';
  if (/^\/billing(\/|$)/i.test(path)) return 'billing';
  return 'general';
}

type Deps = Pick<ApiDeps, 'config' | 'redis' | 'metrics' | 'logger'>;

/** Spends one request of the shop's budget for this request's group; throws RATE_LIMITED when it is spent. */
export type SpendBudget = (req: Request, res: Response, shopDomain: string) => Promise<void>;

/**
 * Per-shop fixed-window limits on the API's Redis, keyed by the shop's domain
 * as the verified session token names it: so the budget is spent while the
 * shop row is being read (sessionAuth runs the two side by side), and a
 * request with a bad token spends nothing. Keys live under the queue prefix
 * (one Redis Cluster slot) and always carry an expiry: the library's script
 * sets it. A limiter that errors or is slow lets the request through: an
 * outage of the limiter must never lock merchants out.
 */
export function rateLimiter(deps: Deps, opts: { timeoutMs?: number } = {}): SpendBudget {
  const timeoutMs = opts.timeoutMs ?? 250;
  const perMinute: Record<RateLimitGroup, number> = {
    general: deps.config.RATE_LIMIT_GENERAL_PER_MIN,
    campaigns: deps.config.RATE_LIMIT_CAMPAIGNS_PER_MIN,
    imports: deps.config.RATE_LIMIT_IMPORTS_PER_MIN,
    billing: deps.config.RATE_LIMIT_BILLING_PER_MIN,
  };
  const limiters = Object.fromEntries(
    RATE_LIMIT_GROUPS.map((group) => [
      group,
      new RateLimiterRedis({
        storeClient: deps.redis,
        keyPrefix: `${deps.config.QUEUE_PREFIX}:rl:${group}`,
        points: perMinute[group],
        duration: 60,
        rejectIfRedisNotReady: true,
      }),
    ]),
  ) as Record<RateLimitGroup, RateLimiterRedis>;

  return async (req, res, shopDomain) => {
    const group = rateLimitGroupOf(req.method, req.path);
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`rate limiter timed out after ${timeoutMs} ms`)), timeoutMs);
      });
      const r = await Promise.race([limiters[group].consume(shopDomain), timeout]);
      res.setHeader('RateLimit-Remaining', String(r.remainingPoints));
    } catch (err) {
      if (err instanceof RateLimiterRes) {
        deps.metrics.rateLimitHits.inc({ limiter: group });
        const retryAfter = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
        throw new AppError('RATE_LIMITED', 'Too many requests; retry later', {
          headers: { 'Retry-After': String(retryAfter) },
          details: { limiter: group, retryAfterSeconds: retryAfter },
        });
      }
      deps.metrics.rateLimitHits.inc({ limiter: 'fail_open' });
      deps.logger.warn({ err: { message: err instanceof Error ? err.message : String(err) }, limiter: group }, 'rate limiter unavailable; request let through');
    } finally {
      clearTimeout(timer);
    }
  };
}
