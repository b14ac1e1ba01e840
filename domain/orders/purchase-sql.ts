import { sql, type Sql } from '../../lib/db';

/**
 * Whether the shopify_orders row of alias `o` is a purchase: not cancelled
 * (orders/cancelled, or created cancelled) and not a test order (`"test":
 * true`, a test gateway). Only a purchase ends a flow run on "order placed",
 * holds back an abandoned-checkout message, starts a post-purchase flow or
 * earns a campaign or flow anything (docs/shopify.md, "Cancelled orders",
 * "Test orders"; docs/flows.md, "What counts as an order").
 */
export function purchaseSql(o: Sql): Sql {
  return sql`(${o}.cancelled_at IS NULL AND NOT ${o}.test)`;
}
