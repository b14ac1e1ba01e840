import type { Request, RequestHandler, Response } from 'express';
import { AppError } from '../../../../lib/errors';
import { claimIdempotencyKey } from '../../../../domain/idempotency/claim-key';
import { completeIdempotencyKey } from '../../../../domain/idempotency/complete-key';
import { failIdempotencyKey } from '../../../../domain/idempotency/fail-key';
import { requestFingerprint } from '../../../../domain/idempotency/fingerprint';
import { fencedGuard, UNGUARDED, type IdempotencyGuard, type JsonResponse } from '../../../../domain/idempotency/guard';
import { parseIdempotencyKey } from '../../../../domain/idempotency/key-header';
import type { HeldKey, StoredResponse } from '../../../../domain/idempotency/types';
import type { ApiDeps } from '../deps';
import { routeTemplateOf } from './route-template';
import { shopOf } from './session-auth';

export interface IdempotencyOptions {
  /** api.md: required on enqueue, cancel, checkout and contact import; optional elsewhere. */
  required: boolean;
}

/** Headers a replay repeats; everything else is per request (X-Request-Id, …). */
const REPLAYED_HEADERS = ['location', 'content-type'];

/** Marks the middleware so a test can prove every mutating /api route carries it. */
export const IDEMPOTENCY_MIDDLEWARE = Symbol('idempotency');

type Deps = Pick<ApiDeps, 'db' | 'config' | 'metrics' | 'logger'>;

/** The guard a route hands to its domain function (a no-op when no key was sent). */
export function idempotencyGuardOf(res: Response): IdempotencyGuard {
  return (res.locals.idempotencyGuard as IdempotencyGuard | undefined) ?? UNGUARDED;
}

/** `/api/campaigns/:id/enqueue`: known only once Express has matched the route; never the path as sent. */
function routeTemplate(req: Request): string {
  const template = routeTemplateOf(req);
  if (template === null) throw new Error('idempotency() must be mounted on a route of an app whose route templates are recorded');
  return template;
}

/**
 * Route-level middleware, placed AFTER body/params validation (a request that
 * fails its schema never touches the key table) and before the handler.
 * The first request with a key claims it and executes; its response is
 * stored (2xx) or the key marked failed (4xx/5xx) before it is sent.
 */
export function idempotency(deps: Deps, opts: IdempotencyOptions): RequestHandler {
  const handler: RequestHandler = async (req, res, next) => {
    const key = parseIdempotencyKey(req.headers['idempotency-key']);
    if (key === null) {
      if (opts.required) {
        throw new AppError('IDEMPOTENCY_KEY_REQUIRED', 'This route requires an Idempotency-Key header', {
          details: [{ path: 'Idempotency-Key', message: 'required' }],
        });
      }
      next();
      return;
    }
    const { shopId } = shopOf(res);
    const scope = { shopId, method: req.method, route: routeTemplate(req), key };
    const claim = await claimIdempotencyKey(deps.db, scope, {
      fingerprint: requestFingerprint({ params: req.params, body: req.body }),
      requestId: typeof res.locals.requestId === 'string' ? res.locals.requestId : undefined,
      leaseMs: deps.config.IDEMPOTENCY_LEASE_MS,
      abandonedTtlMs: deps.config.IDEMPOTENCY_FAILED_TTL_MS,
    });
    const count = (outcome: string): void => deps.metrics.idempotencyRequests.inc({ outcome });

    switch (claim.kind) {
      case 'replay':
        count('replayed');
        replay(res, claim.response);
        return;
      case 'in_progress':
        count('in_progress');
        throw new AppError('REQUEST_IN_PROGRESS', 'A request with this Idempotency-Key is still being processed', {
          headers: { 'Retry-After': '1' },
        });
      case 'reused':
        count('reused');
        throw new AppError('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was used with a different request', {
          details: [{ path: 'Idempotency-Key', message: 'the same key was sent with different parameters or body' }],
        });
      case 'claimed': {
        if (claim.takeover) count('takeover');
        const held: HeldKey = { id: claim.id, fence: claim.fence };
        let storedWithOutcome: JsonResponse | null = null;
        res.locals.idempotencyGuard = fencedGuard(held, {
          leaseMs: deps.config.IDEMPOTENCY_LEASE_MS,
          completedTtlMs: deps.config.IDEMPOTENCY_COMPLETED_TTL_MS,
          onStored: (response) => (storedWithOutcome = response),
        });
        settleBeforeSending(res, async (status, body) => {
          if (!storedWithOutcome) return settle(deps, res, held, status, body, count);
          // The handler's own statement stored the response with its outcome.
          if (storedWithOutcome.status !== status || storedWithOutcome.body !== body) {
            deps.logger.error({ status, storedStatus: storedWithOutcome.status }, 'the response sent differs from the one stored with the outcome; replays repeat the stored one');
          }
          res.setHeader('X-Idempotency-Stored', 'true');
          count('stored');
        });
        next();
        return;
      }
    }
  };
  return Object.assign(handler, { [IDEMPOTENCY_MIDDLEWARE]: opts });
}

function replay(res: Response, stored: StoredResponse): void {
  res.status(stored.status);
  for (const [name, value] of Object.entries(stored.headers)) res.setHeader(name, value);
  res.setHeader('X-Idempotency-Replay', 'true');
  res.setHeader('Idempotent-Replayed', 'true');
  if (stored.body === null) res.end();
  else res.send(stored.body);
}

async function settle(deps: Deps, res: Response, held: HeldKey, status: number, body: string | null, count: (o: string) => void): Promise<void> {
  try {
    if (status >= 200 && status <= 299) {
      const headers: Record<string, string> = {};
      for (const name of REPLAYED_HEADERS) {
        const v = res.getHeader(name);
        if (v !== undefined) headers[name] = String(v);
      }
      const stored = await completeIdempotencyKey(deps.db, held, { status, body, headers }, deps.config.IDEMPOTENCY_COMPLETED_TTL_MS);
      if (stored) {
        res.setHeader('X-Idempotency-Stored', 'true');
        count('stored');
      } else {
        deps.logger.warn({ status }, 'idempotency key was taken over before this response could be stored');
      }
    } else {
      await failIdempotencyKey(deps.db, held, status, deps.config.IDEMPOTENCY_FAILED_TTL_MS);
      count('failed');
    }
  } catch (err) {
    // The outcome already happened; the client still gets it. The key stays
    // in progress until its lease ends, then a retry takes it over.
    deps.logger.warn({ err, status }, 'could not record the idempotency outcome');
  }
}

/**
 * Runs `fn` with the final status and body bytes before anything reaches the
 * client, whichever way the response is written (json, send, end, error handler).
 */
function settleBeforeSending(res: Response, fn: (status: number, body: string | null) => Promise<void>): void {
  const originalEnd = res.end.bind(res) as (...args: unknown[]) => Response;
  let done = false;
  const end = (...args: unknown[]): Response => {
    if (done) return originalEnd(...args);
    done = true;
    const chunk = args[0];
    const body = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : null;
    void fn(res.statusCode, body).finally(() => originalEnd(...args));
    return res;
  };
  res.end = end as Response['end'];
}
