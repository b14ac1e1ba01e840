import { sql, type Sql, type Tx } from '../../lib/db';

/**
 * The statement that expires the pending purchases of these abandoned
 * Checkout Sessions (a late payment still wins: a paid purchase is left
 * alone), for a caller that runs it inside a statement of its own.
 */
export function expireCheckoutSessionsSql(sessionIds: string[]): Sql {
  return sql`UPDATE purchases SET status = 'expired', updated_at = now() WHERE stripe_session_id = ANY(${sessionIds}::text[]) AND status = 'pending'`;
}

/** An abandoned Checkout Session: its purchase will never be paid (a late payment still wins). */
export async function expireCheckoutSession(tx: Tx, sessionId: string): Promise<boolean> {
  return (await tx.$executeRaw(expireCheckoutSessionsSql([sessionId]))) === 1;
}
