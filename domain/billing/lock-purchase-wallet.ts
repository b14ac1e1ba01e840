import { sql, type Tx } from '../../lib/db';
import { lockWallet, type LockedWallet } from '../credits/lock-wallet';

export type PurchaseRef = { paymentIntentId: string } | { sessionId: string };

/**
 * The wallet of the purchase's shop, locked, before the purchase's row is:
 * the order every path that changes a wallet together with a purchase or a
 * dispute takes (lock-wallet.ts). The purchase is found without a lock (its
 * shop never changes); the caller then locks it and reads it again. Null:
 * no such purchase, nothing locked. Callers hold the payment intent's lock
 * where there is one, so no purchase takes this payment intent meanwhile.
 */
export async function lockPurchaseWallet(tx: Tx, ref: PurchaseRef): Promise<LockedWallet | null> {
  const where = 'paymentIntentId' in ref ? sql`p.stripe_payment_intent_id = ${ref.paymentIntentId}` : sql`p.stripe_session_id = ${ref.sessionId}`;
  // One statement when the wallet exists, as it does from the shop's install.
  const [w] = await tx.$queryRaw<{ shop_id: string; balance: bigint; reserved: bigint }[]>`
    SELECT w.shop_id, w.balance, w.reserved FROM purchases p JOIN credit_wallets w ON w.shop_id = p.shop_id WHERE ${where} FOR UPDATE OF w`;
  if (w) return { shopId: w.shop_id, balance: Number(w.balance), reserved: Number(w.reserved) };
  const [p] = await tx.$queryRaw<{ shop_id: string }[]>`SELECT p.shop_id FROM purchases p WHERE ${where}`;
  return p ? lockWallet(tx, p.shop_id) : null;
}
