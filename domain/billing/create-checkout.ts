import { createHash } from 'node:crypto';
import type Stripe from 'stripe';
import type { Config } from '../../lib/config';
import type { Db } from '../../lib/db';
import { AppError } from '../../lib/errors';
import type { IdempotencyGuard } from '../idempotency/guard';
import { getOrCreateStripeCustomer, isMissingStripeCustomer, replaceMissingStripeCustomer } from './get-or-create-customer';
import { findCreditPack } from './list-packs';
import { toStripeAppError } from './stripe-errors';

export interface CheckoutDeps {
  db: Db;
  stripe: Stripe;
  config: Config;
}

export interface CheckoutInput {
  shop: { id: string; domain: string };
  packId: string;
  /** The client's Idempotency-Key: a retry of the same request reuses the same Stripe session. */
  idempotencyKey: string;
  guard: IdempotencyGuard;
}

export interface CheckoutResult {
  checkoutUrl: string;
  sessionId: string;
}

/**
 * Stripe's own idempotency key for this checkout: stable per (shop, client
 * key, customer), bounded length. The customer is part of it because Stripe
 * refuses a key reused with other parameters: a retry after the shop's
 * customer was replaced (replaceMissingStripeCustomer) is a new request.
 */
export function checkoutStripeKey(shopId: string, idempotencyKey: string, customerId: string): string {
  return `checkout-${createHash('sha256').update(`${shopId}\n${idempotencyKey}\n${customerId}`).digest('hex')}`;
}

/**
 * Where Stripe sends the merchant back: this app's Billing page inside the
 * shop's admin (`/admin/apps/<client id>/billing` opens application_url +
 * `/billing`, i.e. /app/billing, embedded), where the balance and the
 * purchase show. The api serves no page outside /app, and /app itself only
 * works framed by the admin.
 */
export function checkoutReturnUrl(config: Pick<Config, 'SHOPIFY_API_KEY'>, shopDomain: string, outcome: 'success' | 'cancelled'): string {
  return `https://${shopDomain}/admin/apps/${encodeURIComponent(config.SHOPIFY_API_KEY)}/billing?checkout=${outcome}`;
}

/**
 * Creates a Stripe Checkout Session for a credit pack and records the
 * pending purchase, keyed by the session id. The purchase (not the webhook)
 * is what fulfilment trusts: credits and price are the ones recorded here.
 */
export async function createCheckout(deps: CheckoutDeps, input: CheckoutInput): Promise<CheckoutResult> {
  const pack = findCreditPack(deps.config, input.packId);
  if (!pack) {
    throw new AppError('VALIDATION_FAILED', 'Unknown credit pack', { details: [{ path: 'packId', message: 'not a pack listed by GET /api/billing/packs' }] });
  }
  const metadata = { shopId: input.shop.id, packId: pack.id };
  const createSession = (customer: string) =>
    deps.stripe.checkout.sessions.create(
      {
        mode: 'payment',
        customer,
        client_reference_id: input.shop.id,
        metadata,
        // Charges inherit these, so a refund names its shop even before fulfilment.
        payment_intent_data: { metadata },
        line_items: [
          {
            quantity: 1,
            price_data: {
              currency: pack.currency,
              unit_amount: pack.amount,
              product_data: { name: `${pack.credits.toLocaleString('en-US')} SMS credits`, metadata: { packId: pack.id } },
            },
          },
        ],
        success_url: checkoutReturnUrl(deps.config, input.shop.domain, 'success'),
        cancel_url: checkoutReturnUrl(deps.config, input.shop.domain, 'cancelled'),
      },
      { idempotencyKey: checkoutStripeKey(input.shop.id, input.idempotencyKey, customer) },
    );
  let session: Stripe.Checkout.Session;
  try {
    const customer = await getOrCreateStripeCustomer(deps.db, deps.stripe, input.shop);
    try {
      session = await createSession(customer);
    } catch (err) {
      // The mapped customer is gone at Stripe: every checkout of the shop would fail the same way until it is replaced. Once.
      if (!isMissingStripeCustomer(err)) throw err;
      session = await createSession(await replaceMissingStripeCustomer(deps.db, deps.stripe, input.shop, customer));
    }
  } catch (err) {
    throw toStripeAppError(err);
  }
  if (!session.url) throw new AppError('INTERNAL', 'Stripe returned a Checkout Session without a URL');

  await deps.db.$transaction(async (tx) => {
    await input.guard.assertHeld(tx);
    // A retry that got the same session from Stripe finds the row already there.
    await tx.$executeRaw`
      INSERT INTO purchases (shop_id, stripe_session_id, pack_id, credits, amount, currency)
      VALUES (${input.shop.id}::uuid, ${session.id}, ${pack.id}, ${pack.credits}::int, ${pack.amount}::int, ${pack.currency})
      ON CONFLICT (stripe_session_id) DO NOTHING`;
  });
  return { checkoutUrl: session.url, sessionId: session.id };
}
