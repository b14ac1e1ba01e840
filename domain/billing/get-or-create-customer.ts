import Stripe from 'stripe';
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

/**
 * Stripe's answer when a request names a customer it does not hold: deleted
 * in the dashboard, or created under another account or mode (a test-mode
 * customer once the live key is deployed). Nothing can be bought for it.
 */
export function isMissingStripeCustomer(err: unknown): boolean {
  return err instanceof Stripe.errors.StripeInvalidRequestError && err.code === 'resource_missing' && err.param === 'customer';
}

/**
 * Replaces a mapping to a customer Stripe no longer holds: the stale row goes
 * (only if it still names that customer: a concurrent replacement is kept)
 * and a new customer is created, under an idempotency key that names the one
 * it replaces, so concurrent replacements share one customer and a key reused
 * within Stripe's 24 h cannot hand back the deleted one.
 */
export async function replaceMissingStripeCustomer(db: Db, stripe: Stripe, shop: { id: string; domain: string }, missingId: string): Promise<string> {
  await db.$executeRaw`DELETE FROM stripe_customers WHERE shop_id = ${shop.id}::uuid AND stripe_customer_id = ${missingId}`;
  const customer = await stripe.customers.create(
    { description: `Shopify shop ${shop.domain}`, metadata: { shopId: shop.id, shopDomain: shop.domain } },
    { idempotencyKey: `customer-${shop.id}-replacing-${missingId}` },
  );
  await db.$executeRaw`
    INSERT INTO stripe_customers (shop_id, stripe_customer_id) VALUES (${shop.id}::uuid, ${customer.id})
    ON CONFLICT DO NOTHING`;
  return (await mappedCustomer(db, shop.id)) ?? customer.id;
}
