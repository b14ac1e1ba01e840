import { buyerContactCtes } from '../contacts/buyer-contact-sql';
import type { Tx } from '../../lib/db';
import { phoneHash } from '../contacts/phone';
import { toMinorUnits } from './money';

/** An order as orders/create describes it, already parsed and bounded (shopify-payloads.ts orderSchema). */
export interface ShopifyOrderInput {
  shopId: string;
  orderId: string;
  customerId: string | null;
  /**
   * The buyer's numbers in E.164 (buyer-phones.ts: which of the order's, and
   * in which order of trust), used only to find the contact when the
   * customer id does not. Their hashes are kept on the row (never the
   * numbers), so a contact that appears later for one of them can still be
   * linked (link-customer-orders.ts). At most four, distinct.
   */
  phones: string[];
  totalPrice: string;
  currency: string;
  orderedAt: Date;
  landingSite: string | null;
  referringSite: string | null;
  sourceName: string | null;
  discountCodes: string[];
  /** When Shopify cancelled it (orders/cancelled): a cancelled order is never attributed (cancel-order.ts). */
  cancelledAt?: Date | null;
  /**
   * Placed through a test gateway (`"test": true`): stored, but never
   * attributed, no post-purchase flow, and the summary does not move.
   */
  test?: boolean;
}

export type RecordOrderResult =
  | { outcome: 'recorded'; contactId: string | null }
  /** This order id is already stored for the shop: nothing changed. */
  | { outcome: 'duplicate' };

/**
 * Stores the order once per (shop, order id) and, only when THIS statement
 * inserted it, moves its contact's "seen" summary: one more order, its total
 * added (in the contact's summary currency; an order in another currency
 * counts but adds no amount), the newest order time kept. The contact is the
 * one holding the Shopify customer id; when no contact holds it (no customer,
 * or one never synced) the one holding the buyer's number, by its phone hash
 * as contacts are keyed, only when the numbers name exactly one contact of
 * the shop: two contacts (the order's number one's, the customer record's
 * another's) is no link, as nothing says which one bought; an order naming a
 * customer never goes by number to a contact holding another customer id
 * (buyer-contact-sql.ts). An erased contact
 * is never linked. No contact is created: an order is not consent to be
 * texted. An order of no customer that finds no contact by its numbers is
 * linked later if a customers/* webhook brings the one contact they name
 * (link-customer-orders.ts; the caller holds lockBuyerPhones for them).
 *
 * The order is then either one Shopify's customer summary already reported
 * (orders_unseen: the oldest of them) or one it has yet to count
 * (orders_uncounted, which the next rise of its count takes first:
 * apply-customer-summary.ts). In the first case the provisional attribution
 * made for that summary goes (attribute-summary-order.ts), so the order
 * counts once, by its own attribution (attribute-order.ts).
 *
 * A test order (`test`) is stored and linked to its contact, but moves no
 * summary: Shopify's customer count leaves test orders out, so counting it
 * here would make the next real order look counted already (orders_uncounted)
 * and would take a real order's provisional attribution. Its result has no
 * contact, so the caller attributes nothing and queues no flow for it.
 *
 * The summary's UPDATE also locks the contact row, in the statement that
 * stores the purchase: a flow's send step holds that row FOR SHARE while it
 * decides, so a purchase that ends the run commits either before that
 * decision, which then sees it, or after the send (flows/order-placed-since.ts).
 */
export async function recordShopifyOrder(tx: Tx, o: ShopifyOrderInput): Promise<RecordOrderResult> {
  const totalMinor = toMinorUnits(o.totalPrice, o.currency);
  if (totalMinor === null) throw new Error('order total is not a decimal amount');
  const hashes = o.phones.map(phoneHash);
  const [row] = await tx.$queryRaw<{ inserted: number; contact_id: string | null; reported: boolean | null }[]>`
    WITH ${buyerContactCtes(o.shopId, o.customerId, hashes)}, ins AS (
      INSERT INTO shopify_orders (shop_id, order_id, customer_id, contact_id, total_minor, currency, ordered_at,
                                  landing_site, referring_site, source_name, discount_codes, cancelled_at, test, buyer_phone_hashes)
      VALUES (${o.shopId}::uuid, ${o.orderId}, ${o.customerId}, (SELECT id FROM target), ${totalMinor}::bigint, ${o.currency}, ${o.orderedAt},
              ${o.landingSite}, ${o.referringSite}, ${o.sourceName}, ${o.discountCodes}::text[], ${o.cancelledAt ?? null}::timestamptz, ${o.test ?? false}::boolean,
              ${hashes}::text[])
      ON CONFLICT (shop_id, order_id) DO NOTHING
      RETURNING contact_id, total_minor, currency, ordered_at, test
    ), moved AS (
      UPDATE contacts c
         SET orders_seen = c.orders_seen + 1,
             amount_seen_minor = c.amount_seen_minor
               + CASE WHEN c.amount_spent_currency IS NULL OR c.amount_spent_currency = ins.currency THEN ins.total_minor ELSE 0 END,
             amount_spent_currency = COALESCE(c.amount_spent_currency, ins.currency),
             last_order_at = GREATEST(c.last_order_at, ins.ordered_at),
             orders_unseen = GREATEST(c.orders_unseen - 1, 0),
             orders_uncounted = c.orders_uncounted + CASE WHEN c.orders_unseen > 0 THEN 0 ELSE 1 END,
             amount_uncounted_minor = c.amount_uncounted_minor
               + CASE WHEN c.orders_unseen > 0 THEN 0
                      WHEN c.amount_spent_currency IS NULL OR c.amount_spent_currency = ins.currency THEN ins.total_minor ELSE 0 END,
             updated_at = now()
        FROM ins WHERE c.id = ins.contact_id AND c.erased_at IS NULL AND NOT ins.test
      -- RETURNING has the new row only: as orders_unseen > 0 implies orders_uncounted = 0 (a CHECK),
      -- the order was one already reported exactly when orders_uncounted is still 0.
      RETURNING c.id, c.orders_uncounted = 0 AS reported
    )
    SELECT (SELECT count(*) FROM ins)::int AS inserted, (SELECT id FROM moved) AS contact_id, (SELECT reported FROM moved) AS reported`;
  if (!row || row.inserted === 0) return { outcome: 'duplicate' };
  if (row.contact_id !== null && row.reported) await dropProvisionalAttribution(tx, o.shopId, row.contact_id);
  return { outcome: 'recorded', contactId: row.contact_id };
}

/**
 * The provisional attribution of the oldest order the summary reported (the
 * lowest count; the customer's may have changed, the contact has not), if
 * one was made. Its own statement: the UPDATE above waited for the contact
 * row a customer webhook held while it wrote that attribution, and only a
 * statement started after it can see the row.
 */
async function dropProvisionalAttribution(tx: Tx, shopId: string, contactId: string): Promise<void> {
  await tx.$executeRaw`
    DELETE FROM order_attributions a
     WHERE (a.shop_id, a.order_id) = (
       SELECT p.shop_id, p.order_id FROM order_attributions p
        WHERE p.shop_id = ${shopId}::uuid AND p.contact_id = ${contactId}::uuid AND p.source = 'summary'
        ORDER BY split_part(p.order_id, ':', 3)::int LIMIT 1)`;
}
