import type { Tx } from '../../lib/db';

export interface LockedWallet {
  shopId: string;
  balance: number;
  reserved: number;
}

/**
 * Locks the shop's wallet row for the rest of the transaction (made first
 * if the shop has none) and returns it. The wallet is the first row lock of
 * every path that changes a wallet together with a purchase, a dispute or a
 * reservation; the purchase, its disputes and the reservations come after
 * (docs/credits.md, "Locks"). So no two such paths wait on each other in a
 * cycle, and a release that pays what a refund or a dispute is owed sees
 * every purchase and dispute as their last holder committed them.
 */
export async function lockWallet(tx: Tx, shopId: string): Promise<LockedWallet> {
  const locked = await selectForUpdate(tx, shopId);
  if (locked) return locked;
  await tx.$executeRaw`INSERT INTO credit_wallets (shop_id) VALUES (${shopId}::uuid) ON CONFLICT DO NOTHING`;
  const made = await selectForUpdate(tx, shopId);
  if (!made) throw new Error(`wallet of shop ${shopId} could not be made`);
  return made;
}

async function selectForUpdate(tx: Tx, shopId: string): Promise<LockedWallet | null> {
  const [w] = await tx.$queryRaw<{ shop_id: string; balance: bigint; reserved: bigint }[]>`
    SELECT shop_id, balance, reserved FROM credit_wallets WHERE shop_id = ${shopId}::uuid FOR UPDATE`;
  return w ? { shopId: w.shop_id, balance: Number(w.balance), reserved: Number(w.reserved) } : null;
}
