import type { Metrics } from '../../lib/metrics';
import { minorToMajor } from './money';

type AttributionMetrics = Pick<Metrics, 'attributedOrders' | 'attributedRevenue' | 'attributedRevenueWithdrawn'>;

/**
 * The counters of a new attribution: the order, its total, and as withdrawn
 * what its refunds recorded before it took back, so the dashboard's net
 * revenue (attributed_revenue_total − attributed_revenue_withdrawn_total)
 * counts an order refunded before it was attributed as one refunded after.
 */
export function countAttribution(m: AttributionMetrics, a: { kind: 'click' | 'view'; currency: string; totalMinor: bigint; refundedMinor: bigint }): void {
  m.attributedOrders.inc({ kind: a.kind });
  m.attributedRevenue.inc({ currency: a.currency }, minorToMajor(a.totalMinor, a.currency));
  if (a.refundedMinor > 0n) m.attributedRevenueWithdrawn.inc({ currency: a.currency, reason: 'refund' }, minorToMajor(a.refundedMinor, a.currency));
}

/** What a refund or a cancellation took back from attributed revenue (nothing for 0). */
export function countWithdrawal(m: Pick<Metrics, 'attributedRevenueWithdrawn'>, reason: 'refund' | 'cancelled', currency: string, minor: bigint): void {
  if (minor > 0n) m.attributedRevenueWithdrawn.inc({ currency, reason }, minorToMajor(minor, currency));
}
