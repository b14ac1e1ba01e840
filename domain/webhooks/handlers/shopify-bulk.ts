import { writeOutboxEvent } from '../../outbox/outbox';
import { observeSyncEnd } from '../../shop-sync/finish-shop-sync';
import { recordBulkFinish } from '../../shop-sync/record-bulk-finish';
import { inEventTransaction } from '../event-transaction';
import { bulkOperationFinishSchema } from '../shopify-payloads';
import type { WebhookHandler } from '../types';

/**
 * bulk_operations/finish: the export of a sync ended. Recorded with the same
 * guarded UPDATE as a poll (whichever learns it first wins; the other changes
 * nothing); a completed export wakes the sync's job at once through the
 * outbox (shop.sync.v1, its own job id beside a poll waiting under the
 * sync's), a failed one fails the sync. An operation no sync of the shop
 * started (a mutation, another tool's, a sync already ended) is ignored.
 */
export const shopifyBulkOperationFinish: WebhookHandler = async (ctx) => {
  const { deps, event } = ctx;
  const body = bulkOperationFinishSchema.parse(event.payload);
  const shopId = event.shop_id;
  return inEventTransaction(ctx, async (tx) => {
    if (!shopId || (body.type && body.type.toLowerCase() !== 'query')) return { outcome: 'ignored', shopId };
    const recorded = await recordBulkFinish(tx, {
      shopId, bulkOperationId: body.admin_graphql_api_id, status: body.status, errorCode: body.error_code ?? null, objectCount: null, via: 'webhook',
    });
    if (!recorded?.won) return { outcome: 'ignored', shopId };
    const sync = recorded.row;
    if (sync.status === 'running') {
      await writeOutboxEvent(tx, { type: 'shop.sync.v1', aggregateId: sync.id, payload: { syncId: sync.id, shopId, wake: 'finished' }, traceId: event.trace_id ?? undefined });
    } else {
      ctx.afterCommit(() => {
        observeSyncEnd(deps.metrics, sync);
        deps.logger.warn({ webhookEventId: event.id, shopId, syncId: sync.id, bulkStatus: body.status, errorCode: body.error_code }, 'shop sync: Shopify export did not complete');
      });
    }
    return { outcome: 'processed', shopId };
  });
};
