import type { DbOrTx, Tx } from '../../lib/db';

/** An abandoned Checkout Session: its purchase will never be paid (a late payment still wins). */
export async function expireCheckoutSession(tx: Tx, sessionId: string): Promise<boolean> {
  const n = await tx.$executeRaw`
    UPDATE purchases SET status = 'expired', updated_at = now() WHERE stripe_session_id = ${sessionId} AND status = 'pending'`;
  return n === 1;
}

/**
 * expireCheckoutSession for many sessions, marking the events that reported
 * them processed in the same statement (a drain's pass of
 * `checkout.session.expired`). Returns how many events it marked.
 */
export async function expireCheckoutSessionsMarkingEvents(db: DbOrTx, sessionIds: string[], eventRowIds: string[]): Promise<number> {
  const [row] = await db.$queryRaw<{ marked: bigint }[]>`
    WITH expired AS (
      UPDATE purchases SET status = 'expired', updated_at = now()
       WHERE stripe_session_id = ANY(${sessionIds}::text[]) AND status = 'pending'
      RETURNING id
    ),
    marked AS (
      UPDATE webhook_events
         SET status = 'processed', processed_at = now(), attempts = attempts + 1, last_error = NULL, next_attempt_at = NULL
       WHERE id = ANY(${eventRowIds}::uuid[])
      RETURNING id
    )
    SELECT (SELECT count(*) FROM marked) AS marked, (SELECT count(*) FROM expired) AS expired`;
  return Number(row?.marked ?? 0);
}
