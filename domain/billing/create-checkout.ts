import { createHash } from 'node:crypto';
import type Stripe from 'stripe';
import type { Config } from '../../lib/config';
import type { Db } from '../../lib/db';
import { AppError } from '../../lib/errors';
import type { IdempotencyGuard } from '../idempotency/guard';
import { getOrCreateStripeCustomer } from './get-or-create-customer';
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

/** Stripe's own idempotency key for this checkout: stable per (shop, client key), bounded length. */
export function checkoutStripeKey(shopId: string, idempotencyKey: string): string {
  return `checkout-${createHash('sha256').update(`${shopId}\n${idempotencyKey}`).digest('hex')}`;
}

function publicUrl(config: Config, path: string): string {
  return `${config.PUBLIC_BASE_URL.replace(/\/+$/, '')}${path}`;
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
  let session: Stripe.Checkout.Session;
  try {
    const customer = await getOrCreateStripeCustomer(deps.db, deps.stripe, input.shop);
    session = await deps.stripe.checkout.sessions.create(
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
        success_url: publicUrl(deps.config, '/billing/success?session_id={CHECKOUT_SESSION_ID}'),
        cancel_url: publicUrl(deps.config, '/billing/cancel'),
      },
      { idempotencyKey: checkoutStripeKey(input.shop.id, input.idempotencyKey) },
    );
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
