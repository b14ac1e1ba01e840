import type { Tx } from '../../lib/db';
import { disputedCredits } from './disputed-credits';
import { disputeHoldKey } from './purchase-keys';

export interface PaidPurchase {
  shopId: string;
  credits: number;
  /** The price paid (minor units), to size a partial dispute's share. */
  price: number;
}

export interface DisputeHold {
  disputeId: string;
  /** Credits held now (what was available of the disputed credits). */
  held: number;
  /** Disputed credits campaigns held: released reservations pay them into the hold (collect-dispute-hold-shortfall.ts). */
  shortfall: number;
}

/**
 * Holds an open dispute's credits, once: the guarded UPDATE claims the
 * dispute (open, nothing held yet), so a second opening event, or a
 * completion after the dispute, holds nothing more, and a dispute recorded
 * closed holds nothing at all. The hold is a reservation with no campaign
 * and no expiry (key `dispute-<id>`, so reconciliation never releases it):
 * every spending path already leaves `reserved` alone. It takes what is
 * available under the wallet lock (never what campaigns hold, as a refund
 * does not); the rest is the dispute's `hold_shortfall`. The caller holds
 * the payment intent's lock, the shop's wallet (locked first) and the
 * purchase row, `paid`.
 */
export async function holdDisputedCredits(tx: Tx, p: PaidPurchase, disputeId: string): Promise<DisputeHold | null> {
  const [claimed] = await tx.$queryRaw<{ amount: number | null }[]>`
    UPDATE stripe_disputes SET held_at = now(), shop_id = ${p.shopId}::uuid, updated_at = now()
     WHERE stripe_dispute_id = ${disputeId} AND status = 'open' AND held_at IS NULL
    RETURNING amount`;
  if (!claimed) return null;
  const disputed = disputedCredits({ credits: p.credits, price: p.price }, claimed.amount);
  await tx.$executeRaw`INSERT INTO credit_wallets (shop_id) VALUES (${p.shopId}::uuid) ON CONFLICT DO NOTHING`;
  const [w] = await tx.$queryRaw<{ available: bigint }[]>`
    SELECT balance - reserved AS available FROM credit_wallets WHERE shop_id = ${p.shopId}::uuid FOR UPDATE`;
  const held = Math.max(0, Math.min(disputed, Number(w?.available ?? 0n)));
  // The hold row exists even at 0: a released reservation tops it up.
  await tx.$executeRaw`
    WITH held AS (
      UPDATE credit_wallets SET reserved = reserved + ${held}::bigint, updated_at = now() WHERE shop_id = ${p.shopId}::uuid RETURNING shop_id
    )
    INSERT INTO credit_reservations (shop_id, campaign_id, reservation_key, amount)
    SELECT held.shop_id, NULL, ${disputeHoldKey(disputeId)}, ${held}::bigint FROM held`;
  const shortfall = disputed - held;
  if (shortfall > 0) {
    await tx.$executeRaw`UPDATE stripe_disputes SET hold_shortfall = ${shortfall}::bigint WHERE stripe_dispute_id = ${disputeId}`;
  }
  return { disputeId, held, shortfall };
}

/**
 * Holds the credits of every dispute of this payment that is open and holds
 * nothing yet: one opened before the purchase was paid (its events came
 * first). The caller holds the payment intent's lock, the shop's wallet and
 * the paid purchase.
 */
export async function holdOpenDisputes(tx: Tx, p: PaidPurchase & { paymentIntentId: string }): Promise<DisputeHold[]> {
  const open = await tx.$queryRaw<{ stripe_dispute_id: string }[]>`
    SELECT stripe_dispute_id FROM stripe_disputes
     WHERE stripe_payment_intent_id = ${p.paymentIntentId} AND status = 'open' AND held_at IS NULL
     ORDER BY created_at, stripe_dispute_id`;
  const holds: DisputeHold[] = [];
  for (const d of open) {
    const h = await holdDisputedCredits(tx, p, d.stripe_dispute_id);
    if (h) holds.push(h);
  }
  return holds;
}
