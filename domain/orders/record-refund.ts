import type { Tx } from '../../lib/db';
import { sql } from '../../lib/db';
import { mergeRefundTransactions } from './merge-refund-transactions';
import type { RefundTransactionFact, RefundTransactionState } from './refund-amounts';
import { refundedSql } from './refunded-sql';

/** What Shopify said of an order's refund transactions: a refund (refunds/create) or one transaction (order_transactions/create). */
export interface RefundTransactionsInput {
  shopId: string;
  orderId: string;
  facts: RefundTransactionFact[];
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
  /** Nothing new (a redelivery, a state already known, or nothing of kind `refund`): nothing changed. */
  | { outcome: 'unchanged' };

interface Row {
  transaction_id: string;
  parent_id: string | null;
  refund_id: string | null;
  currency: string;
  amount_minor: bigint;
  status: RefundTransactionState;
  shop_currency: string | null;
  shop_amount_minor: bigint | null;
}

const toFact = (r: Row): RefundTransactionFact => ({
  transactionId: r.transaction_id,
  parentId: r.parent_id,
  refundId: r.refund_id,
  currency: r.currency,
  amountMinor: r.amount_minor,
  state: r.status,
  shop: r.shop_currency !== null && r.shop_amount_minor !== null ? { currency: r.shop_currency, amountMinor: r.shop_amount_minor } : null,
});

const sameFact = (x: RefundTransactionFact, y: RefundTransactionFact): boolean =>
  x.parentId === y.parentId && x.refundId === y.refundId && x.currency === y.currency && x.amountMinor === y.amountMinor && x.state === y.state &&
  x.shop?.currency === y.shop?.currency && x.shop?.amountMinor === y.shop?.amountMinor;

/**
 * Stores what Shopify said of an order's refund transactions, one row per
 * transaction (shopify_refund_transactions): its amount and currency, where
 * it stands (pending, failed, success) and, for one paid in the customer's
 * currency, its part of the refund in the shop's (refund-amounts.ts). What a
 * campaign or flow earned is read net of the successful ones
 * (refunded-sql.ts), so nothing else is written: a refund that comes before
 * its order's orders/create counts once the order is attributed, and one of
 * an order never attributed takes nothing from anyone.
 *
 * Every writer of an order's refund transactions takes the order's lock
 * first and merges under it (merge-refund-transactions.ts: the furthest
 * state wins, a later state reported as a child transaction is folded into
 * its parent), so refunds/create and order_transactions/create, in whatever
 * order and however often they arrive, leave the same rows: a refund
 * transaction that was pending and succeeds later counts once. The order's
 * row, if stored, is locked next (as orders/cancelled updates it): a flow's
 * send step holds it FOR SHARE while it decides, so a refund that ends a
 * post-purchase run commits before that decision, which then sees it, or
 * after the send (trigger-order-undone.ts). Then the attribution row, so
 * what this write withdrew (refunded after minus before, read as the stats
 * read it) is exact for the counters.
 */
export async function recordRefundTransactions(tx: Tx, r: RefundTransactionsInput): Promise<RecordRefundResult> {
  await tx.$queryRaw`SELECT pg_advisory_xact_lock(hashtextextended('shopify-order-refunds:' || ${r.shopId}::text || ':' || ${r.orderId}::text, 0))`;
  await tx.$queryRaw`SELECT 1 FROM shopify_orders WHERE shop_id = ${r.shopId}::uuid AND order_id = ${r.orderId} FOR NO KEY UPDATE`;
  const [attribution] = await tx.$queryRaw<{ campaign_id: string | null; flow_id: string | null; currency: string; refunded: bigint }[]>`
    SELECT a.campaign_id, a.flow_id, a.currency, ${refundedSql(sql`a`)} AS refunded FROM order_attributions a
     WHERE a.shop_id = ${r.shopId}::uuid AND a.order_id = ${r.orderId}
       FOR UPDATE`;
  const stored = (
    await tx.$queryRaw<Row[]>`
      SELECT transaction_id, parent_id, refund_id, currency, amount_minor, status, shop_currency, shop_amount_minor
        FROM shopify_refund_transactions WHERE shop_id = ${r.shopId}::uuid AND order_id = ${r.orderId}`
  ).map(toFact);
  const merged = mergeRefundTransactions(stored, r.facts);
  const before = new Map(stored.map((f) => [f.transactionId, f]));
  const kept = new Set(merged.map((f) => f.transactionId));
  const gone = stored.filter((f) => !kept.has(f.transactionId)).map((f) => f.transactionId);
  const changed = merged.filter((f) => {
    const had = before.get(f.transactionId);
    return !had || !sameFact(had, f);
  });
  if (gone.length === 0 && changed.length === 0) return { outcome: 'unchanged' };

  if (gone.length > 0) {
    await tx.$executeRaw`
      DELETE FROM shopify_refund_transactions WHERE shop_id = ${r.shopId}::uuid AND order_id = ${r.orderId} AND transaction_id = ANY(${gone}::text[])`;
  }
  if (changed.length > 0) {
    const rows = JSON.stringify(
      changed.map((f) => ({
        transaction_id: f.transactionId,
        parent_id: f.parentId,
        refund_id: f.refundId,
        currency: f.currency,
        amount_minor: f.amountMinor.toString(),
        status: f.state,
        shop_currency: f.shop?.currency ?? null,
        shop_amount_minor: f.shop ? f.shop.amountMinor.toString() : null,
      })),
    );
    // The rows are the merge of everything stored and said, made under the order's lock: they replace what was there.
    await tx.$executeRaw`
      INSERT INTO shopify_refund_transactions
             (shop_id, order_id, transaction_id, parent_id, refund_id, currency, amount_minor, status, shop_currency, shop_amount_minor)
      SELECT ${r.shopId}::uuid, ${r.orderId}, x.transaction_id, x.parent_id, x.refund_id, x.currency, x.amount_minor::bigint, x.status,
             x.shop_currency, x.shop_amount_minor::bigint
        FROM jsonb_to_recordset(${rows}::jsonb) AS x(transaction_id text, parent_id text, refund_id text, currency text, amount_minor text,
                                                     status text, shop_currency text, shop_amount_minor text)
      ON CONFLICT (shop_id, order_id, transaction_id) DO UPDATE
         SET parent_id = EXCLUDED.parent_id, refund_id = EXCLUDED.refund_id, currency = EXCLUDED.currency, amount_minor = EXCLUDED.amount_minor,
             status = EXCLUDED.status, shop_currency = EXCLUDED.shop_currency, shop_amount_minor = EXCLUDED.shop_amount_minor, updated_at = now()`;
  }
  if (!attribution) return { outcome: 'recorded', withdrawn: null };
  const [after] = await tx.$queryRaw<{ refunded: bigint }[]>`
    SELECT ${refundedSql(sql`a`)} AS refunded FROM order_attributions a WHERE a.shop_id = ${r.shopId}::uuid AND a.order_id = ${r.orderId}`;
  const amountMinor = (after?.refunded ?? attribution.refunded) - attribution.refunded;
  return { outcome: 'recorded', withdrawn: { campaignId: attribution.campaign_id, flowId: attribution.flow_id, currency: attribution.currency, amountMinor } };
}
