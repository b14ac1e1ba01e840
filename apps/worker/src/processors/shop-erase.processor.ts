import { eraseShop } from '../../../../domain/privacy/erase-shop';
import { defineHandler } from './types';
import { runAgainIn, SLICE_YIELD_MS } from './run-again-in';

export const shopEraseHandler = defineHandler('privacy.shop-erase.v1', async (payload, { deps, job, token }) => {
  const result = await eraseShop(deps, payload.shopId);
  if (result.outcome === 'yielded') {
    // Its slice used: the same job goes on shortly, from the rows left.
    return runAgainIn(job, token, SLICE_YIELD_MS);
  }
  return result;
});
