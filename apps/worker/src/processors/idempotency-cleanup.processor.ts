import { deleteExpiredIdempotencyKeys } from '../../../../domain/idempotency/cleanup';
import { defineHandler } from './types';

export const idempotencyCleanupHandler = defineHandler('idempotency.cleanup.v1', async (_payload, { deps }) => {
  const deleted = await deleteExpiredIdempotencyKeys(deps.db, { now: deps.now() });
  return { deleted };
});
