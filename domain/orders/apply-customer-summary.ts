import { sql, type Sql, type Tx } from '../../lib/db';
import { toMinorUnits } from './money';

/** Shopify's own order figures for a customer (customers/create|update, the bulk sync). */
export interface ShopifyCustomerSummary {
  shopId: string;
  customerId: string;
  ordersCount: number | null;
  /** Decimal text in `currency` ("199.00"). */
  totalSpent: string | null;
  currency: string | null;
  /** Only the bulk export knows it; webhooks carry no last-order date. */
  lastOrderAt?: Date | null;
}

/**
 * Records Shopify's figures beside the orders seen here. They only ever
 * raise what is stored (GREATEST): Shopify's count includes every order we
 * saw once its customer record catches up, and a customer webhook that was
 * queued before an order must not take that order back out. The summary
 * audiences read (orders_count, amount_spent_minor) is generated as the
 * larger of the two sources, so an order arriving before or after the
 * customer record is counted once either way. An amount in a currency other
 * than the contact's summary currency is ignored. A rise of the count also
 * settles what the two sources disagreed on (shopifyRiseSetSql).
 */
export async function applyShopifyCustomerSummary(tx: Tx, s: ShopifyCustomerSummary): Promise<number> {
  const count = s.ordersCount ?? null;
  const spent = s.totalSpent && s.currency ? toMinorUnits(s.totalSpent, s.currency) : null;
  const lastOrderAt = s.lastOrderAt ?? null;
  if (count === null && spent === null && lastOrderAt === null) return 0;
  return tx.$executeRaw`
    UPDATE contacts c
       SET shopify_orders_count = GREATEST(c.shopify_orders_count, COALESCE(${count}::int, 0)),
           shopify_amount_spent_minor = CASE
             WHEN ${spent}::bigint IS NOT NULL AND (c.amount_spent_currency IS NULL OR c.amount_spent_currency = ${s.currency}::text)
             THEN GREATEST(c.shopify_amount_spent_minor, ${spent}::bigint) ELSE c.shopify_amount_spent_minor END,
           amount_spent_currency = CASE WHEN ${spent}::bigint IS NOT NULL THEN COALESCE(c.amount_spent_currency, ${s.currency}::text)
                                        ELSE c.amount_spent_currency END,
           last_order_at = GREATEST(c.last_order_at, ${lastOrderAt}::timestamptz),
           ${shopifyRiseSetSql(sql`${count}::int`, sql`${spent}::bigint`, sql`${s.currency}::text`, { ordersNow: true })},
           updated_at = now()
     WHERE c.shop_id = ${s.shopId}::uuid AND c.shopify_customer_id = ${s.customerId} AND c.erased_at IS NULL
       AND (c.shopify_orders_count < COALESCE(${count}::int, 0)
            OR (${spent}::bigint IS NOT NULL AND c.shopify_amount_spent_minor < ${spent}::bigint
                AND (c.amount_spent_currency IS NULL OR c.amount_spent_currency = ${s.currency}::text))
            OR (${lastOrderAt}::timestamptz IS NOT NULL AND c.last_order_at IS DISTINCT FROM GREATEST(c.last_order_at, ${lastOrderAt}::timestamptz)))`;
}

/**
 * The SET items (of `contacts c`, reading the row before the update) that
 * settle a rise of Shopify's count to `count` (`spent` minor units of
 * `currency`; any may be NULL) with the orders seen here. Shopify counts
 * orders in the order they were placed, so a rise first takes the orders seen
 * here that it had not counted (orders_uncounted, and as much of their amount
 * as total_spent rose by). With `ordersNow` (a customer webhook), what it
 * reports beyond them, once Shopify had counted this customer's orders at all,
 * is orders not seen here yet: orders_unseen, whose orders/create is still to
 * come (record-order.ts), attributed provisionally by the same rule
 * (attribute-summary-order.ts). A first count, and the bulk sync, are
 * history. A count not above the one held moves nothing, so a redelivered or
 * stale update is harmless.
 */
export function shopifyRiseSetSql(count: Sql, spent: Sql, currency: Sql, o: { ordersNow: boolean }): Sql {
  const rise = sql`GREATEST(COALESCE(${count}, 0) - c.shopify_orders_count, 0)`;
  const spentRise = sql`CASE WHEN ${spent} IS NOT NULL AND (c.amount_spent_currency IS NULL OR c.amount_spent_currency = ${currency})
                             THEN GREATEST(${spent} - c.shopify_amount_spent_minor, 0) ELSE 0 END`;
  const unseen = o.ordersNow
    ? sql`c.orders_unseen + CASE WHEN c.shopify_orders_count > 0 THEN GREATEST(${rise} - c.orders_uncounted, 0) ELSE 0 END`
    : sql`c.orders_unseen`;
  return sql`orders_uncounted = GREATEST(c.orders_uncounted - ${rise}, 0),
           amount_uncounted_minor = CASE WHEN ${rise} = 0 THEN c.amount_uncounted_minor
                                         WHEN c.orders_uncounted > ${rise} THEN GREATEST(c.amount_uncounted_minor - ${spentRise}, 0) ELSE 0 END,
           orders_unseen = ${unseen}`;
}
