import type { Tx } from '../../lib/db';
import { applyWalletChange } from '../credits/apply-wallet-change';
import { closeFlowHold } from './close-flow-hold';

/**
 * Charges a sent flow message its segments, once (ledger key
 * `flow-msg-<id>`). A message sent on its own was held its credits before the
 * provider call (`holdKey`, hold-flow-credits.ts): the charge comes out of
 * that hold, which closes (a message re-sent that may have gone already: the
 * hold its earlier attempt left, if still there), then out of the available
 * balance. Without one (a delivery report proving an `unknown` message
 * delivered), out of what the wallet holds beyond every reservation, as far
 * as it goes (never a negative balance). Returns the credits charged.
 */
export async function debitFlowMessage(tx: Tx, m: { messageId: string; shopId: string; flowId: string; segments: number; traceId: string | null; holdKey?: string | null }): Promise<number> {
  let charge: number;
  if (m.holdKey) {
    ({ charge } = await closeFlowHold(tx, { shopId: m.shopId, key: m.holdKey, segments: m.segments }));
  } else {
    const [w] = await tx.$queryRaw<{ available: bigint }[]>`SELECT balance - reserved AS available FROM credit_wallets WHERE shop_id = ${m.shopId}::uuid FOR UPDATE`;
    charge = Math.max(0, Math.min(m.segments, Number(w?.available ?? 0)));
  }
  if (charge > 0) {
    await applyWalletChange(tx, { shopId: m.shopId, type: 'debit', amount: -charge, idempotencyKey: `flow-msg-${m.messageId}`, reference: `flow:${m.flowId}`, traceId: m.traceId ?? undefined });
  }
  return charge;
}
