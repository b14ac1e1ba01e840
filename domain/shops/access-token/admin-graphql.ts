import { GraphqlQueryError, HttpResponseError, Session } from '@shopify/shopify-api';
import type { ShopifyDeps } from './deps';
import { shopifyApp } from './shopify-app';
import { shopTokenCipher } from './token-cipher';
import { invalidateAccessToken, readAccessToken } from './token-store';

/**
 * Why an Admin API call did not give an answer. `retryable`: the same call
 * may succeed later (throttled: after `retryAfterMs`; no token / unauthorized:
 * once a merchant request exchanged a new one; unavailable: Shopify 5xx,
 * timeout, network). `failed`: Shopify refused the operation itself.
 */
export type ShopifyAdminErrorKind = 'no_token' | 'unauthorized' | 'throttled' | 'unavailable' | 'failed';

export class ShopifyAdminError extends Error {
  readonly retryable: boolean;
  constructor(
    readonly kind: ShopifyAdminErrorKind,
    message: string,
    readonly details: { retryAfterMs?: number; cost?: unknown; errors?: unknown } = {},
  ) {
    super(message);
    this.name = 'ShopifyAdminError';
    this.retryable = kind !== 'failed';
  }
}

interface GraphqlErrorBody {
  errors?: { graphQLErrors?: { message?: string; extensions?: { code?: string } }[] };
  extensions?: { cost?: { requestedQueryCost?: number; throttleStatus?: { currentlyAvailable?: number; restoreRate?: number } } };
}

/** How long until the bucket holds the query's cost again (Shopify's leaky bucket), at least a second. */
function throttleWaitMs(cost: NonNullable<GraphqlErrorBody['extensions']>['cost']): number {
  const needed = (cost?.requestedQueryCost ?? 0) - (cost?.throttleStatus?.currentlyAvailable ?? 0);
  const rate = cost?.throttleStatus?.restoreRate ?? 0;
  return rate > 0 && needed > 0 ? Math.max(1_000, Math.ceil((needed / rate) * 1_000)) : 1_000;
}

export interface AdminGraphqlResult<T> {
  data: T;
  extensions?: Record<string, unknown>;
}

/**
 * One Admin GraphQL call for a shop, with its stored offline token (decrypted
 * here, never returned or logged), through the library's client (no retries
 * of its own: the caller's job or request decides). A 401 invalidates exactly
 * the token used, so the shop's next /api request exchanges a new one.
 * GraphQL `userErrors` are data: the caller reads them.
 */
export async function adminGraphql<T = Record<string, unknown>>(
  deps: ShopifyDeps,
  shopId: string,
  query: string,
  variables?: Record<string, unknown>,
): Promise<AdminGraphqlResult<T>> {
  const { config, db, logger, metrics } = deps;
  const stored = await readAccessToken(db, shopTokenCipher(config), shopId);
  if (!stored) {
    metrics.shopifyAdminRequests.inc({ outcome: 'no_token' });
    throw new ShopifyAdminError('no_token', 'The shop has no valid Admin API token yet (exchanged on its next authenticated request)');
  }
  const app = shopifyApp(config, logger);
  const session = new Session({ id: app.session.getOfflineId(stored.shopDomain), shop: stored.shopDomain, state: '', isOnline: false, accessToken: stored.accessToken });
  const client = new app.clients.Graphql({ session });
  try {
    const response = await client.request<T>(query, { variables, retries: 0 });
    metrics.shopifyAdminRequests.inc({ outcome: 'ok' });
    return { data: response.data as T, extensions: response.extensions as Record<string, unknown> | undefined };
  } catch (err) {
    const mapped = await mapError(deps, shopId, stored.ciphertext, err);
    metrics.shopifyAdminRequests.inc({ outcome: mapped.kind });
    throw mapped;
  }
}

async function mapError(deps: ShopifyDeps, shopId: string, ciphertext: string, err: unknown): Promise<ShopifyAdminError> {
  if (err instanceof GraphqlQueryError) {
    const body = (err.body ?? {}) as GraphqlErrorBody;
    const errors = body.errors?.graphQLErrors ?? [];
    if (errors.some((e) => e.extensions?.code === 'THROTTLED')) {
      const cost = body.extensions?.cost;
      return new ShopifyAdminError('throttled', 'Shopify throttled the query (THROTTLED)', { retryAfterMs: throttleWaitMs(cost), cost });
    }
    return new ShopifyAdminError('failed', `Shopify refused the query: ${errors.map((e) => e.message).join('; ').slice(0, 300)}`, { errors });
  }
  if (err instanceof HttpResponseError) {
    const status = err.response.code;
    if (status === 401) {
      await invalidateAccessToken(deps.db, shopId, { ciphertext });
      deps.logger.warn({ shopId }, 'shopify admin api: 401, access token invalidated (re-exchanged on the next request)');
      return new ShopifyAdminError('unauthorized', 'Shopify refused the access token (401); it is invalidated');
    }
    if (status === 429) {
      const retryAfter = Number((err.response as { retryAfter?: number }).retryAfter);
      return new ShopifyAdminError('throttled', 'Shopify throttled the request (429)', { retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1_000 : 1_000 });
    }
    if (status >= 500) return new ShopifyAdminError('unavailable', `Shopify answered ${status}`);
    return new ShopifyAdminError('failed', `Shopify answered ${status}`);
  }
  // Timeout (AbortSignal), network failure, or the library's retries exhausted.
  return new ShopifyAdminError('unavailable', `Shopify unreachable: ${(err as Error).name}: ${(err as Error).message}`.slice(0, 300));
}
