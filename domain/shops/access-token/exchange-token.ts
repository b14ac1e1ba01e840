import { randomUUID } from 'node:crypto';
import { HttpResponseError, RequestedTokenType } from '@shopify/shopify-api';
import { scrubText } from '../../../lib/logger';
import type { Producer } from '../../../queue/producer';
import type { OutboxRow } from '../../outbox/outbox';
import { publishCommitted } from '../../outbox/outbox';
import { queueShopSync } from '../../shop-sync/start-shop-sync';
import type { ShopifyDeps } from './deps';
import { shopifyApp } from './shopify-app';
import { shopTokenCipher, tokenAad } from './token-cipher';

/**
 * exchanged: stored, the shop was installed. reinstalled: stored, and the
 * shop (uninstalled) is active again. busy: another request holds the claim
 * or a token is stored, or a failure holds retries back. failed: the exchange
 * or the store failed (logged, metric). disabled: SHOPIFY_INSTALL_BY_EXCHANGE=false.
 */
export type ExchangeOutcome = 'exchanged' | 'reinstalled' | 'busy' | 'failed' | 'disabled';

// After a failed exchange the next attempt waits this long, whatever the
// number of requests: a Shopify outage costs one call per shop per interval.
export const EXCHANGE_RETRY_MS = 5_000;

/**
 * Trades the request's session token for the shop's offline Admin API token,
 * once: Postgres grants the claim to one caller (a row of
 * shop_access_tokens with no token, and no claim or failure in its time
 * window); everyone else returns `busy` at once. The winner stores the
 * encrypted token only while its claim still stands (an uninstall deletes the
 * row; a lease that ran out may have been taken over). Never throws: a
 * failure must not fail the merchant's request.
 */
export async function exchangeAccessToken(
  deps: ShopifyDeps & { producer?: Producer },
  shop: { id: string; domain: string },
  sessionToken: string,
): Promise<ExchangeOutcome> {
  const { config, db, logger, metrics } = deps;
  if (!config.SHOPIFY_INSTALL_BY_EXCHANGE) return 'disabled';
  const claim = randomUUID();
  const leaseMs = config.SHOPIFY_API_TIMEOUT_MS + 5_000;
  try {
    const won = await db.$queryRaw<{ exchange_claim: string }[]>`
      INSERT INTO shop_access_tokens (shop_id, exchange_claim, exchange_not_before)
      VALUES (${shop.id}::uuid, ${claim}::uuid, now() + ${leaseMs} * interval '1 millisecond')
      ON CONFLICT (shop_id) DO UPDATE
         SET exchange_claim = EXCLUDED.exchange_claim, exchange_not_before = EXCLUDED.exchange_not_before, updated_at = now()
       WHERE shop_access_tokens.ciphertext IS NULL
         AND (shop_access_tokens.exchange_not_before IS NULL OR shop_access_tokens.exchange_not_before <= now())
      RETURNING exchange_claim::text`;
    if (won[0]?.exchange_claim !== claim) return 'busy';
  } catch (err) {
    logger.warn({ err: { message: (err as Error).message }, shopId: shop.id }, 'shopify token exchange: claim failed');
    metrics.shopifyTokenExchanges.inc({ outcome: 'failed' });
    return 'failed';
  }

  let accessToken: string;
  let scopes: string | null;
  try {
    const { session } = await shopifyApp(config, logger).auth.tokenExchange({
      shop: shop.domain,
      sessionToken,
      requestedTokenType: RequestedTokenType.OfflineAccessToken,
    });
    if (!session.accessToken) throw new Error('token exchange answered without an access token');
    accessToken = session.accessToken;
    scopes = session.scope ?? null;
  } catch (err) {
    const status = err instanceof HttpResponseError ? ` (HTTP ${err.response.code})` : '';
    const message = scrubText(`${(err as Error).name}${status}: ${(err as Error).message}`).slice(0, 500);
    await db.$executeRaw`
      UPDATE shop_access_tokens
         SET exchange_claim = NULL, exchange_not_before = now() + ${EXCHANGE_RETRY_MS} * interval '1 millisecond',
             exchange_failures = exchange_failures + 1, last_exchange_error = ${message}, updated_at = now()
       WHERE shop_id = ${shop.id}::uuid AND exchange_claim = ${claim}::uuid`.catch(() => undefined);
    logger.warn({ shopId: shop.id, err: { message } }, 'shopify token exchange failed; retried on a later request');
    metrics.shopifyTokenExchanges.inc({ outcome: 'failed' });
    return 'failed';
  }

  const ciphertext = shopTokenCipher(config).encrypt(accessToken, tokenAad(shop.id));
  let syncEvent: OutboxRow | null = null;
  try {
    const outcome = await db.$transaction(async (tx) => {
      // Never for a shop being erased (shop/redact): its row is on its way out, and so is everything of it.
      const stored = await tx.$executeRaw`
        UPDATE shop_access_tokens
           SET ciphertext = ${ciphertext}, scopes = ${scopes}, obtained_at = now(), invalidated_at = NULL,
               exchange_claim = NULL, exchange_not_before = NULL, exchange_failures = 0, last_exchange_error = NULL, updated_at = now()
         WHERE shop_id = ${shop.id}::uuid AND exchange_claim = ${claim}::uuid
           AND NOT EXISTS (SELECT 1 FROM shops WHERE id = ${shop.id}::uuid AND erasure_requested_at IS NOT NULL)`;
      if (stored !== 1) return 'busy' as const;
      // Shopify grants a token only to an installed app: the proof of a re-install.
      const reactivated = await tx.$executeRaw`
        UPDATE shops SET status = 'active', uninstalled_at = NULL, installed_at = now(), updated_at = now()
         WHERE id = ${shop.id}::uuid AND status = 'uninstalled'`;
      const installed = reactivated === 1 ? ('reinstalled' as const) : ('exchanged' as const);
      // The install's customer sync, in the transaction that installs: once per shop (a re-exchange after a
      // revoked token is no install); a re-install syncs again, the store's customers changed meanwhile.
      if (config.SHOPIFY_SYNC_ON_INSTALL) {
        const queued = await queueShopSync(tx, { shopId: shop.id, reason: installed === 'reinstalled' ? 'resync' : 'install', traceId: `install-${claim}` });
        syncEvent = queued?.outbox ?? null;
      }
      return installed;
    });
    if (outcome === 'busy') {
      metrics.shopifyTokenExchanges.inc({ outcome: 'discarded' });
      logger.info({ shopId: shop.id }, 'shopify token exchange: claim lost before storing (uninstalled, being erased or taken over); token discarded');
      return 'busy';
    }
    metrics.shopifyTokenExchanges.inc({ outcome });
    logger.info({ shopId: shop.id, scopes, outcome }, 'shopify offline access token stored');
    // Published now when the caller has a producer; otherwise by the outbox dispatcher.
    if (syncEvent && deps.producer) await publishCommitted(db, deps.producer, [syncEvent]);
    return outcome;
  } catch (err) {
    logger.warn({ shopId: shop.id, err: { message: (err as Error).message } }, 'shopify token exchange: storing the token failed');
    metrics.shopifyTokenExchanges.inc({ outcome: 'failed' });
    return 'failed';
  }
}
