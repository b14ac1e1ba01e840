import type { Tx } from '../../lib/db';
import { applyWalletChange } from '../credits/apply-wallet-change';

/**
 * Charges a sent flow message its segments, once (ledger key
 * `flow-msg-<id>`), from what the wallet holds beyond every campaign's
 * reservation: the send checked that before the provider call, so the wallet
 * falls short only after a race, and then the message is charged what it can
 * be (never a negative balance). Returns the credits charged.
 */
export async function debitFlowMessage(tx: Tx, m: { messageId: string; shopId: string; flowId: string; segments: number; traceId: string | null }): Promise<number> {
  const [w] = await tx.$queryRaw<{ available: bigint }[]>`SELECT balance - reserved AS available FROM credit_wallets WHERE shop_id = ${m.shopId}::uuid FOR UPDATE`;
  const charge = Math.max(0, Math.min(m.segments, Number(w?.available ?? 0)));
  if (charge > 0) {
    await applyWalletChange(tx, { shopId: m.shopId, type: 'debit', amount: -charge, idempotencyKey: `flow-msg-${m.messageId}`, reference: `flow:${m.flowId}`, traceId: m.traceId ?? undefined });
  }
  return charge;
}
