import { DelayedError } from 'bullmq';
import { eraseShop } from '../../../../domain/privacy/erase-shop';
import { defineHandler } from './types';

/** A run that used its slice gives its maintenance slot back for this long before going on. */
const YIELD_MS = 500;

export const shopEraseHandler = defineHandler('privacy.shop-erase.v1', async (payload, { deps, job, token }) => {
  const result = await eraseShop(deps, payload.shopId);
  if (result.outcome === 'yielded') {
    // The same job goes on later (no attempt spent); its id stays taken, so no second erasure of the shop starts meanwhile.
    await job.moveToDelayed(Date.now() + YIELD_MS, token);
    throw new DelayedError();
  }
  return result;
});
