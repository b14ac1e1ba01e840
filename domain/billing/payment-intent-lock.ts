import type { Tx } from '../../lib/db';

/**
 * Serialises fulfilment and refund of one payment intent. A refund that
 * cannot find its purchase yet (the completion event is late) relies on the
 * completion seeing the refund event; this transaction-scoped lock makes
 * "refund looked for the purchase" and "completion looked for a refund"
 * impossible to interleave, so one of them always sees the other.
 */
export async function lockPaymentIntent(tx: Tx, paymentIntentId: string): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`stripe-pi:${paymentIntentId}`}, 0))`;
}
