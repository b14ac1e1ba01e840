import type { Tx } from '../../lib/db';

/** A refund as refunds/create describes it, already parsed (shopify-payloads.ts refundSchema). */
export interface ShopifyRefundInput {
  shopId: string;
  orderId: string;
  refundId: string;
  refundedAt: Date;
  /** Per currency, what its successful refund transactions gave back (refund-amounts.ts); each > 0. */
  amounts: { currency: string; amountMinor: bigint }[];
}

/** What a refund took off an attributed order's earnings (for the counters; the stats read it from the rows). */
export interface RefundWithdrawal {
  campaignId: string | null;
  flowId: string | null;
  currency: string;
  amountMinor: bigint;
}

export type RecordRefundResult =
  | { outcome: 'recorded'; withdrawn: RefundWithdrawal | null }
  /** This refund is stored already: nothing changed. */
  | { outcome: 'duplicate' }
  /** No successful refund transaction (pending, failed, a restock only): nothing to store. */
  | { outcome: 'nothing_refunded' };

/**
 * Stores a refund once per (shop, order, refund id, currency): ON CONFLICT
 * DO NOTHING, so a redelivery, the same body resent or a second delivery
 * with other bytes changes nothing. Nothing else is written: what a campaign
 * or flow earned is read net of these rows (refunded-sql.ts), so a refund
 * that comes before its order's orders/create is counted once the order is
 * attributed, and one of an order never attributed (no contact, a test or a
 * cancelled order) takes nothing from anyone. The refund's order is not
 * checked against shopify_orders: it may not have arrived yet.
 *
 * The order's attribution row is locked next, so two refunds of one order
 * recorded at once compute what each withdrew from the other's committed
 * row: that amount (the refund in the attribution's currency, at most what
 * the order still earned) is returned for the counters. A refund in another
 * currency than the order's (a presentment currency) is stored but takes
 * nothing off: no exchange rate is guessed.
 */
export async function recordShopifyRefund(tx: Tx, r: ShopifyRefundInput): Promise<RecordRefundResult> {
  if (r.amounts.length === 0) return { outcome: 'nothing_refunded' };
  // The order's row, if stored, locked before anything else (as orders/cancelled updates it before it withdraws the
  // attribution): a flow's send step holds it FOR SHARE while it decides, so a refund that ends a post-purchase
  // run commits either before that decision, which then sees it, or after the send (trigger-order-undone.ts).
  await tx.$queryRaw`SELECT 1 FROM shopify_orders WHERE shop_id = ${r.shopId}::uuid AND order_id = ${r.orderId} FOR NO KEY UPDATE`;
  const [attribution] = await tx.$queryRaw<{ campaign_id: string | null; flow_id: string | null; total_minor: bigint; currency: string }[]>`
    SELECT campaign_id, flow_id, total_minor, currency FROM order_attributions
     WHERE shop_id = ${r.shopId}::uuid AND order_id = ${r.orderId}
       FOR UPDATE`;
  const inserted = await tx.$queryRaw<{ currency: string; amount_minor: bigint }[]>`
    INSERT INTO shopify_refunds (shop_id, order_id, refund_id, currency, amount_minor, refunded_at)
    SELECT ${r.shopId}::uuid, ${r.orderId}, ${r.refundId}, u.currency, u.amount_minor, ${r.refundedAt}
      FROM unnest(${r.amounts.map((a) => a.currency)}::text[], ${r.amounts.map((a) => a.amountMinor.toString())}::bigint[]) AS u(currency, amount_minor)
    ON CONFLICT DO NOTHING
    RETURNING currency, amount_minor`;
  if (inserted.length === 0) return { outcome: 'duplicate' };
  const line = attribution ? inserted.find((i) => i.currency === attribution.currency) : undefined;
  if (!attribution || !line) return { outcome: 'recorded', withdrawn: null };
  const [before] = await tx.$queryRaw<{ refunded: bigint }[]>`
    SELECT COALESCE(sum(amount_minor), 0)::bigint AS refunded FROM shopify_refunds
     WHERE shop_id = ${r.shopId}::uuid AND order_id = ${r.orderId} AND currency = ${attribution.currency} AND refund_id <> ${r.refundId}`;
  const left = attribution.total_minor - (before?.refunded ?? 0n);
  const amountMinor = left <= 0n ? 0n : line.amount_minor < left ? line.amount_minor : left;
  return { outcome: 'recorded', withdrawn: { campaignId: attribution.campaign_id, flowId: attribution.flow_id, currency: attribution.currency, amountMinor } };
}
