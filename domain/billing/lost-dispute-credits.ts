import type { Tx } from '../../lib/db';

/**
 * The credits of the payment's pack that disputes lost for part of it took
 * (stripe_disputes.loss_credits, each set once): a full claw-back of the
 * purchase (a refund, a dispute of the rest) takes the pack less these, and
 * a failed refund gives back no more than it took. The caller holds the
 * payment intent's lock, under which alone they are set.
 */
export async function lostDisputeCredits(tx: Tx, paymentIntentId: string): Promise<number> {
  const [row] = await tx.$queryRaw<{ lost: bigint }[]>`
    SELECT coalesce(sum(loss_credits), 0)::bigint AS lost FROM stripe_disputes WHERE stripe_payment_intent_id = ${paymentIntentId} AND loss_credits IS NOT NULL`;
  return Number(row?.lost ?? 0n);
}
