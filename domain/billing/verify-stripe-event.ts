import Stripe from 'stripe';

/** Stripe's tolerance for the signed timestamp (api.md: 300 s). */
export const STRIPE_SIGNATURE_TOLERANCE_SEC = 300;

export type StripeVerification = { ok: true; event: Stripe.Event } | { ok: false; reason: 'invalid_signature' | 'invalid_payload' };

/**
 * `Stripe-Signature` checked by the stripe library against the raw bytes
 * (tolerance 300 s, measured from `nowMs`). A missing header, a wrong secret,
 * a changed byte or a stale timestamp are all `invalid_signature`.
 */
export function verifyStripeEvent(stripe: Stripe, rawBody: Buffer, header: string | undefined, secret: string, nowMs: number): StripeVerification {
  if (!header) return { ok: false, reason: 'invalid_signature' };
  try {
    const event = stripe.webhooks.constructEvent(rawBody, header, secret, STRIPE_SIGNATURE_TOLERANCE_SEC, undefined, nowMs);
    if (typeof event?.id !== 'string' || typeof event.type !== 'string' || event.id.length > 255 || event.type.length > 255) {
      return { ok: false, reason: 'invalid_payload' };
    }
    return { ok: true, event };
  } catch (err) {
    return { ok: false, reason: err instanceof Stripe.errors.StripeSignatureVerificationError ? 'invalid_signature' : 'invalid_payload' };
  }
}
