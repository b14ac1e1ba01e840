import Stripe from 'stripe';
import { AppError } from '../../lib/errors';

/**
 * Stripe unreachable or failing on its side is a dependency outage (503, the
 * client retries with the same Idempotency-Key, which reuses the same Stripe
 * idempotency key); anything else is our bug (500). Stripe's message never
 * reaches the client.
 */
export function toStripeAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const transient =
    err instanceof Stripe.errors.StripeConnectionError ||
    err instanceof Stripe.errors.StripeAPIError ||
    err instanceof Stripe.errors.StripeRateLimitError ||
    err instanceof Stripe.errors.StripeIdempotencyError ||
    (err instanceof Stripe.errors.StripeError && (err.statusCode ?? 0) >= 500);
  if (transient) {
    return new AppError('DEPENDENCY_UNAVAILABLE', 'The payment provider is unavailable; retry later', { headers: { 'Retry-After': '5' }, cause: err });
  }
  return new AppError('INTERNAL', 'Internal error', { cause: err });
}
