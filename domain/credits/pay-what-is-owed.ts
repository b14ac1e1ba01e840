import type { Tx } from '../../lib/db';
import { collectDisputeHoldShortfall } from '../billing/collect-dispute-hold-shortfall';
import { collectDisputeLossShortfall } from '../billing/collect-dispute-loss-shortfall';
import { collectRefundShortfall } from '../billing/collect-refund-shortfall';

/**
 * Credits a release just freed that were held when a refund or a dispute
 * came: they pay the refund's shortfall (a ledger row), then a partly lost
 * dispute's (a ledger row), then fill the open dispute's hold (no ledger
 * row: they stay reserved), before the merchant can spend them. Every
 * reservation that gives credits back calls it: a campaign's
 * (reservations.ts) and a flow message's hold (close-flow-hold.ts,
 * debit-flow-messages.ts). The caller holds the wallet's lock, taken first:
 * every event that changes a refund or a hold takes it before the purchase
 * or dispute row, so what is read here is final for this transaction, not
 * half-done.
 */
export async function payWhatIsOwed(tx: Tx, r: { shopId: string; freed: number; reservedSince: Date }): Promise<void> {
  if (r.freed <= 0) return;
  const refunded = await collectRefundShortfall(tx, r);
  const lost = await collectDisputeLossShortfall(tx, { ...r, freed: r.freed - refunded });
  await collectDisputeHoldShortfall(tx, { ...r, freed: r.freed - refunded - lost });
}
