import { eraseDeletedFlow } from '../../../../domain/flows/erase-deleted-flow';
import { defineHandler } from './types';
import { runAgainIn, SLICE_YIELD_MS } from './run-again-in';

export const flowsDeleteHandler = defineHandler('flows.delete.v1', async (payload, { deps, job, token }) => {
  const result = await eraseDeletedFlow(deps, payload.flowId);
  if (result.outcome === 'yielded') {
    // Its slice used: the same job goes on shortly, from the rows left.
    return runAgainIn(job, token, SLICE_YIELD_MS);
  }
  return result;
});
