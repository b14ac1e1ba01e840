import type Stripe from 'stripe';
import type { Db } from '../../lib/db';

/**
 * The shop's Stripe customer, created once. Concurrent first checkouts all
 * call Stripe with the same idempotency key (`customer-<shopId>`), so Stripe
 * hands every one of them the same customer; the unique mapping row then
 * records it once. No request can leave an orphaned second customer.
 */
export async function getOrCreateStripeCustomer(db: Db, stripe: Stripe, shop: { id: string; domain: string }): Promise<string> {
  const existing = await mappedCustomer(db, shop.id);
  if (existing) return existing;
  const customer = await stripe.customers.create(
    { description: `Shopify shop ${shop.domain}`, metadata: { shopId: shop.id, shopDomain: shop.domain } },
    { idempotencyKey: `customer-${shop.id}` },
  );
  await db.$executeRaw`
    INSERT INTO stripe_customers (shop_id, stripe_customer_id) VALUES (${shop.id}::uuid, ${customer.id})
    ON CONFLICT DO NOTHING`;
  return (await mappedCustomer(db, shop.id)) ?? customer.id;
}

async function mappedCustomer(db: Db, shopId: string): Promise<string | null> {
  const rows = await db.$queryRaw<{ stripe_customer_id: string }[]>`SELECT stripe_customer_id FROM stripe_customers WHERE shop_id = ${shopId}::uuid`;
  return rows[0]?.stripe_customer_id ?? null;
}
