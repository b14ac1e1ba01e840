import type { DbOrTx } from '../../lib/db';

export interface WalletView {
  balance: number;
  reserved: number;
  /** balance - reserved: what a new campaign can reserve. */
  available: number;
  /**
   * The part of `reserved` held for open Stripe disputes of the shop's
   * purchases (docs/credits.md, "Disputes"); present only when some is, so
   * the contract's shape is unchanged for every other wallet.
   */
  held?: number;
}

export async function getWallet(db: DbOrTx, shopId: string): Promise<WalletView> {
  // The holds through the shop's disputes (a few rows at most), not its reservations (every flow claim leaves one).
  const [w] = await db.$queryRaw<{ balance: bigint; reserved: bigint; held: bigint }[]>`
    SELECT w.balance, w.reserved,
           (SELECT coalesce(sum(r.amount - r.consumed - r.released), 0) FROM stripe_disputes d
              JOIN credit_reservations r ON r.shop_id = d.shop_id AND r.reservation_key = 'dispute-' || d.stripe_dispute_id
             WHERE d.shop_id = w.shop_id AND r.status = 'active')::bigint AS held
      FROM credit_wallets w WHERE w.shop_id = ${shopId}::uuid`;
  const balance = Number(w?.balance ?? 0);
  const reserved = Number(w?.reserved ?? 0);
  const held = Number(w?.held ?? 0);
  return held > 0 ? { balance, reserved, available: balance - reserved, held } : { balance, reserved, available: balance - reserved };
}
