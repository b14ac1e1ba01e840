// Keys of what a Stripe purchase writes: ledger rows and reservations.

/**
 * Ledger keys of a purchase's refunds. A refund that fails gives the
 * credits back and starts a new round (`purchases.failed_refund_ids` counts
 * them), so a later refund of the same payment takes them again under keys
 * of its own: round 0 keeps the keys written before rounds existed.
 */
export function refundKey(sessionId: string, round: number): string {
  return round === 0 ? `refund-${sessionId}` : `refund-${sessionId}-r${round}`;
}

/** A released reservation paying what the claw-back of `round` could not take; `before` only falls, so it never recurs. */
export function refundRestKey(sessionId: string, round: number, before: number | bigint): string {
  return `${refundKey(sessionId, round)}-rest-${before}`;
}

/** The credits of `round`'s claw-back given back because its refund failed. */
export function refundRestoredKey(sessionId: string, round: number): string {
  return `purchase-${sessionId}-restored-${round}`;
}

/** The reservation that holds a dispute's credits while it is open. */
export function disputeHoldKey(disputeId: string): string {
  return `dispute-${disputeId}`;
}

/** A dispute lost for part of a pack: its share taken (once per dispute, so the key never recurs). */
export function disputeLostKey(disputeId: string): string {
  return `dispute-${disputeId}-lost`;
}

/** A released reservation paying what that loss could not take; `before` only falls. */
export function disputeLostRestKey(disputeId: string, before: number | bigint): string {
  return `${disputeLostKey(disputeId)}-rest-${before}`;
}
