import { toMinorUnits } from './money';

/** A transaction of a Shopify refund, as its body has it (shopify-payloads.ts refundSchema). */
export interface RefundTransaction {
  kind: string;
  status: string | null;
  /** Decimal text in `currency` ("12.50"). */
  amount: string;
  currency: string | null;
}

/**
 * What a refund gave back, per currency, in minor units: the sum of its
 * transactions of kind `refund` with status `success` (a pending, failed or
 * errored one returned nothing; a `sale`, `capture` or `void` is no refund).
 * Exact (minor units of each currency, no float); a transaction without a
 * currency is not counted. Currencies with nothing refunded are left out.
 */
export function successfulRefundAmounts(transactions: RefundTransaction[]): { currency: string; amountMinor: bigint }[] {
  const sums = new Map<string, bigint>();
  for (const t of transactions) {
    if (t.kind.toLowerCase() !== 'refund' || t.status?.toLowerCase() !== 'success' || !t.currency) continue;
    const minor = toMinorUnits(t.amount, t.currency);
    if (minor === null || minor === 0n) continue;
    sums.set(t.currency, (sums.get(t.currency) ?? 0n) + minor);
  }
  return [...sums.entries()].sort(([x], [y]) => x.localeCompare(y)).map(([currency, amountMinor]) => ({ currency, amountMinor }));
}
