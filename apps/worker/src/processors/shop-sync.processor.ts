import { DelayedError, UnrecoverableError } from 'bullmq';
import { ShopifyAdminError } from '../../../../domain/shops/access-token/admin-graphql';
import { failAndObserve } from '../../../../domain/shop-sync/finish-shop-sync';
import { runShopSync } from '../../../../domain/shop-sync/run-shop-sync';
import { defineHandler } from './types';
import { runAgainIn } from './run-again-in';

/** Throttled waits one sync may take (each as long as Shopify's bucket needs) before it fails. */
const MAX_THROTTLED = 50;

export const shopSyncHandler = defineHandler('shop.sync.v1', async (payload, { deps, job, token }) => {
  try {
    const result = await runShopSync(deps, { syncId: payload.syncId });
    if (result.outcome === 'waiting' && token) {
      // Shopify is still exporting: come back later without spending an attempt.
      return runAgainIn(job, token, result.delayMs);
    }
    return result;
  } catch (err) {
    if (err instanceof DelayedError) throw err;
    const message = (err as Error).message;
    if (err instanceof ShopifyAdminError && !err.retryable) {
      await failAndObserve(deps, payload.syncId, `Shopify refused the sync: ${message}`);
      throw new UnrecoverableError(message);
    }
    if (err instanceof ShopifyAdminError && err.kind === 'throttled' && token) {
      const [row] = await deps.db.$queryRaw<{ throttled_waits: number }[]>`
        UPDATE shop_syncs SET throttled_waits = throttled_waits + 1, updated_at = now()
         WHERE id = ${payload.syncId}::uuid AND status IN ('queued', 'running') RETURNING throttled_waits`;
      if (row && row.throttled_waits <= MAX_THROTTLED) {
        return runAgainIn(job, token, (err.details.retryAfterMs ?? 1_000));
      }
    }
    if ((err instanceof ShopifyAdminError && err.kind === 'throttled') || job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) {
      await failAndObserve(deps, payload.syncId, `The sync gave up after repeated failures reaching Shopify: ${message}`.slice(0, 1_000));
      throw new UnrecoverableError(message);
    }
    throw err;
  }
});
