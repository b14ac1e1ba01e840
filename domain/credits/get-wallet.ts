import type { DbOrTx } from '../../lib/db';

export interface WalletView {
  balance: number;
  reserved: number;
  /** balance - reserved: what a new campaign can reserve. */
  available: number;
}

export async function getWallet(db: DbOrTx, shopId: string): Promise<WalletView> {
  const [w] = await db.$queryRaw<{ balance: bigint; reserved: bigint }[]>`SELECT balance, reserved FROM credit_wallets WHERE shop_id = ${shopId}::uuid`;
  const balance = Number(w?.balance ?? 0);
  const reserved = Number(w?.reserved ?? 0);
  return { balance, reserved, available: balance - reserved };
}
