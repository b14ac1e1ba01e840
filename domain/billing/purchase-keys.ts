// Keys of what a Stripe purchase writes: ledger rows and reservations.

/** The reservation that holds a dispute's credits while it is open. */
export function disputeHoldKey(disputeId: string): string {
  return `dispute-${disputeId}`;
}
