import type { Tx } from '../../lib/db';
import { sql } from '../../lib/db';
import { isOrderUndone, orderUndoneSql, type OrderUndone } from '../orders/order-undone-sql';

/**
 * The runs among `runIds` (post-purchase runs; others are passed over) whose
 * trigger order was cancelled or refunded in full, checked in the
 * transaction that decides to send their step, with the order rows held
 * FOR SHARE until it commits: orders/cancelled updates the row and
 * refunds/create locks it (record-refund.ts), so either of them committing
 * at that moment has committed before the lock is granted, and is seen by
 * the second statement (READ COMMITTED: a new snapshot per statement; the
 * first statement's own snapshot would not show a refund row committed while
 * it waited), or waits until the send is decided and marked. The send then
 * either happened before the cancellation or refund, or does not happen.
 */
export async function triggerOrdersUndone(tx: Tx, runIds: string[]): Promise<Map<string, OrderUndone>> {
  const out = new Map<string, OrderUndone>();
  if (runIds.length === 0) return out;
  const orders = sql`
    FROM flow_runs r JOIN shopify_orders o ON o.shop_id = r.shop_id AND o.order_id = r.trigger_subject
   WHERE r.id = ANY(${runIds}::bigint[]) AND r.trigger_type = 'order_created'`;
  await tx.$queryRaw`SELECT 1 ${orders} FOR SHARE OF o`;
  const rows = await tx.$queryRaw<{ id: string; undone: string | null }[]>`SELECT r.id::text, ${orderUndoneSql(sql`o`)} AS undone ${orders}`;
  for (const r of rows) if (isOrderUndone(r.undone)) out.set(r.id, r.undone);
  return out;
}
