import type { Request, RequestHandler, Response } from 'express';
import { setContext } from '../../../../lib/context';
import { AppError } from '../../../../lib/errors';
import { exchangeAccessToken } from '../../../../domain/shops/access-token/exchange-token';
import { shopLookup } from '../../../../domain/shops/shop-cache';
import { verifySessionToken } from '../../../../domain/shops/session-token';
import type { ApiDeps } from '../deps';

export interface AuthedLocals {
  shopId: string;
  shopDomain: string;
}

/** How long a request waits for its shop's token exchange before going on without it. */
export const EXCHANGE_WAIT_MS = 1_000;

async function settledWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** The authenticated shop of this request (set by sessionAuth). */
export function shopOf(res: { locals: Record<string, unknown> }): AuthedLocals {
  const shopId = res.locals.shopId;
  if (typeof shopId !== 'string') throw new AppError('UNAUTHENTICATED', 'No authenticated shop');
  return { shopId, shopDomain: String(res.locals.shopDomain) };
}

/**
 * Every /api route: a valid Shopify session token names the shop. On 401 the
 * retry header tells App Bridge to fetch a fresh token and try again.
 * `alongside` (the rate limiter) runs once the token is verified, at the same
 * time as the shop lookup: one round trip's wait instead of two. An
 * authentication failure wins over its outcome.
 *
 * Install (docs/shopify.md): a shop with no valid offline token exchanges
 * this session token for one; Postgres lets one request do it (and it waits
 * at most EXCHANGE_WAIT_MS for it), the others go on without waiting, and a
 * failure never fails the request. An
 * uninstalled shop is served again only once its exchange succeeds (Shopify
 * grants tokens to installed apps only: the proof of a re-install). A shop
 * whose erasure is pending (shop/redact) is not installed either, and no
 * exchange is tried for it: its data is being deleted and a re-install must
 * not revive half of it. Once the erasure has deleted the row, the next
 * valid token provisions a new, empty shop (docs/shopify.md, "Re-install").
 */
export function sessionAuth(
  deps: Pick<ApiDeps, 'config' | 'db' | 'now' | 'logger' | 'metrics'> & Partial<Pick<ApiDeps, 'producer'>>,
  opts: { alongside?: (req: Request, res: Response, shopDomain: string) => Promise<void> } = {},
): RequestHandler {
  const lookupShop = shopLookup(deps.db, { defaultSender: deps.config.SMS_DEFAULT_SENDER, ttlMs: deps.config.SHOP_CACHE_TTL_MS });
  return async (req, res, next) => {
    try {
      const header = req.get('authorization') ?? '';
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match?.[1]) throw new AppError('UNAUTHENTICATED', 'Missing session token');
      const claims = await verifySessionToken(match[1], {
        apiKey: deps.config.SHOPIFY_API_KEY,
        apiSecret: deps.config.SHOPIFY_API_SECRET,
        now: deps.now(),
      });
      const [lookup, spent] = await Promise.allSettled([
        lookupShop(claims.shopDomain),
        opts.alongside?.(req, res, claims.shopDomain),
      ]);
      if (lookup.status === 'rejected') throw lookup.reason;
      let shop = lookup.value;
      if (shop.status === 'redacted') {
        throw new AppError('UNAUTHENTICATED', 'App is not installed for this shop: its data is being erased after shop/redact; install again once that has finished', {
          details: { reason: 'shop_erasure_pending' },
        });
      }
      if (shop.status === 'uninstalled' && (await exchangeAccessToken(deps, shop, match[1])) === 'reinstalled') {
        lookupShop.forget(shop.domain);
        shop = { ...shop, status: 'active', has_token: true };
      }
      if (shop.status !== 'active') throw new AppError('UNAUTHENTICATED', 'App is not installed for this shop');
      if (spent.status === 'rejected') throw spent.reason;
      if (!shop.has_token) {
        const domain = shop.domain;
        const exchange = exchangeAccessToken(deps, shop, match[1]).then((outcome) => {
          if (outcome === 'exchanged') lookupShop.forget(domain);
        });
        // A fast exchange is done before the response (the token is there for
        // what the merchant does next); a slow Shopify never holds the request
        // longer than this: the exchange finishes (or fails) on its own.
        await settledWithin(exchange, EXCHANGE_WAIT_MS);
      }
      res.locals.shopId = shop.id;
      res.locals.shopDomain = shop.domain;
      setContext({ shopId: shop.id });
      next();
    } catch (err) {
      if (err instanceof AppError && err.code === 'UNAUTHENTICATED') res.setHeader('X-Shopify-Retry-Invalid-Session-Request', '1');
      next(err);
    }
  };
}
