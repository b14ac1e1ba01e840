import type { Tx } from '../../lib/db';

/** An abandoned Checkout Session: its purchase will never be paid (a late payment still wins). */
export async function expireCheckoutSession(tx: Tx, sessionId: string): Promise<boolean> {
  const n = await tx.$executeRaw`
    UPDATE purchases SET status = 'expired', updated_at = now() WHERE stripe_session_id = ${sessionId} AND status = 'pending'`;
  return n === 1;
}
