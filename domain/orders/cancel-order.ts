import type { Tx } from '../../lib/db';
import { ATTRIBUTION_RETURNING, toAttribution, type Attribution, type AttributionRow } from './attribute-order';
import { lockContactsForAttribution } from './attribution-lock';

/**
 * orders/cancelled, after the order is recorded (recordShopifyOrder, which
 * stores it cancelled when this is its first delivery): the order is marked
 * cancelled (the first cancellation time kept) and the attribution it had is
 * withdrawn, so no campaign or flow shows what it earned. Nothing attributes
 * it again: attributeOrder and a late click's flush skip cancelled orders.
 * Under the contact's attribution lock, as they take it, so a click flush
 * committing at the same moment either attributed it first (and this
 * statement, run after the lock, deletes that row) or sees it cancelled.
 * The contact's order summary stays ("has bought", not accounting). Returns
 * the attribution withdrawn, if any (with what refunds had taken off it
 * already, so the counters withdraw only what it still earned).
 */
export async function cancelShopifyOrder(tx: Tx, o: { shopId: string; orderId: string; cancelledAt: Date }): Promise<Attribution | null> {
  const [order] = await tx.$queryRaw<{ contact_id: string | null }[]>`
    SELECT contact_id FROM shopify_orders WHERE shop_id = ${o.shopId}::uuid AND order_id = ${o.orderId}`;
  if (!order) return null;
  if (order.contact_id !== null) await lockContactsForAttribution(tx, [order.contact_id]);
  await tx.$executeRaw`
    UPDATE shopify_orders SET cancelled_at = ${o.cancelledAt}
     WHERE shop_id = ${o.shopId}::uuid AND order_id = ${o.orderId} AND cancelled_at IS NULL`;
  const [withdrawn] = await tx.$queryRaw<AttributionRow[]>`
    DELETE FROM order_attributions WHERE shop_id = ${o.shopId}::uuid AND order_id = ${o.orderId}
    RETURNING ${ATTRIBUTION_RETURNING}`;
  return withdrawn ? toAttribution(withdrawn) : null;
}
