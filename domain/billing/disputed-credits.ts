/**
 * The credits a dispute of `disputeAmount` (minor units) puts in question:
 * the pack's share of the price disputed, rounded up, at most the pack. An
 * unknown amount (or a free pack, which config refuses anyway) is the pack.
 */
export function disputedCredits(p: { credits: number; price: number }, disputeAmount: number | null): number {
  if (disputeAmount === null || p.price <= 0 || disputeAmount >= p.price) return p.credits;
  if (disputeAmount <= 0) return 0;
  // BigInt: credits × amount can pass 2^53 (both are Postgres integers).
  const share = (BigInt(p.credits) * BigInt(disputeAmount) + BigInt(p.price) - 1n) / BigInt(p.price);
  return Number(share);
}
