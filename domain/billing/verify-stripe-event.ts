import Stripe from 'stripe';

/** Stripe's tolerance for the signed timestamp (api.md: 300 s). */
export const STRIPE_SIGNATURE_TOLERANCE_SEC = 300;

export type StripeVerification = { ok: true; event: Stripe.Event } | { ok: false; reason: 'invalid_signature' | 'invalid_payload' };

/**
 * `Stripe-Signature` checked by the stripe library against the raw bytes
 * (tolerance 300 s, measured from `nowMs`). A missing header, a wrong secret,
 * a changed byte or a timestamp outside the tolerance are all
 * `invalid_signature`. The library only refuses a timestamp too old; one
 * more than the tolerance ahead (api.md: outside it either way, as the
 * simulator's and the internal signatures are) is refused here, else a
 * request signed for a later time stayed replayable until then.
 */
export function verifyStripeEvent(stripe: Stripe, rawBody: Buffer, header: string | undefined, secret: string, nowMs: number): StripeVerification {
  if (!header) return { ok: false, reason: 'invalid_signature' };
  try {
    const event = stripe.webhooks.constructEvent(rawBody, header, secret, STRIPE_SIGNATURE_TOLERANCE_SEC, undefined, nowMs);
    if (signedAtSec(header) - Math.floor(nowMs / 1000) > STRIPE_SIGNATURE_TOLERANCE_SEC) return { ok: false, reason: 'invalid_signature' };
    if (typeof event?.id !== 'string' || typeof event.type !== 'string' || event.id.length > 255 || event.type.length > 255) {
      return { ok: false, reason: 'invalid_payload' };
    }
    return { ok: true, event };
  } catch (err) {
    return { ok: false, reason: err instanceof Stripe.errors.StripeSignatureVerificationError ? 'invalid_signature' : 'invalid_payload' };
  }
}

/** The signed `t=` of a header the library accepted, read as it reads it (the last `t`, parseInt), so it is the time the HMAC covered. */
function signedAtSec(header: string): number {
  let t = Number.NaN;
  for (const item of header.split(',')) {
    const kv = item.split('=');
    if (kv[0] === 't') t = Number.parseInt(kv[1] ?? '', 10);
  }
  return t;
}
