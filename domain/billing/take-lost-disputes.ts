import { clawBackSplit } from './claw-back-split';
import type { Tx } from '../../lib/db';
import { applyWalletChange } from '../credits/apply-wallet-change';
import { disputedCredits } from './disputed-credits';
import { lostDisputeCredits } from './lost-dispute-credits';
import { disputeHoldKey, disputeLostKey } from './purchase-keys';
import { refundPurchaseByPaymentIntent, type RefundOutcome } from './refund-purchase';

export type LostDisputeTake =
  /** Lost for part of the pack: that share taken, its hold first; `shortfall` is owed, paid by releases. */
  | { kind: 'share'; shopId: string; purchaseId: string; disputeId: string; credits: number; clawedBack: number; fromHold: number; shortfall: number }
  /** Lost for the rest of the pack (or the whole price): the purchase's full claw-back, cause `dispute`. */
  | { kind: 'rest'; disputeId: string; refund: RefundOutcome };

interface PurchaseRow {
  id: string;
  shop_id: string;
  stripe_session_id: string;
  credits: number;
  amount: number;
  status: string;
}

/**
 * Takes what the lost disputes of this payment took from the merchant,
 * each once: the pack's disputed share (disputedCredits of the dispute's
 * recorded amount, rounded up exactly as its hold was), not the pack. A
 * dispute whose share reaches what is left of the pack is a full claw-back
 * instead (refundPurchaseByPaymentIntent, cause `dispute`), as before.
 * Only while the purchase is `paid`: lost before the completion, the
 * completion takes it; lost while a refund had the pack, the refund's
 * failure takes it when the pack comes back. `loss_credits` is set in the
 * same transaction as the ledger row (`dispute-<id>-lost`), guarded by
 * `loss_credits IS NULL`, so a repeated or concurrent closing, completion
 * or restore takes nothing more. Called with the payment intent's lock and
 * the shop's wallet held (lockPurchaseWallet); locks the purchase, then the
 * disputes, then their holds: the order every path takes.
 */
export async function takeLostDisputes(tx: Tx, r: { paymentIntentId: string; traceId?: string }): Promise<LostDisputeTake[]> {
  const [p] = await tx.$queryRaw<PurchaseRow[]>`
    SELECT id, shop_id, stripe_session_id, credits, amount, status FROM purchases WHERE stripe_payment_intent_id = ${r.paymentIntentId} FOR UPDATE`;
  if (!p || p.status !== 'paid') return [];
  const lost = await tx.$queryRaw<{ stripe_dispute_id: string; amount: number | null }[]>`
    SELECT stripe_dispute_id, amount FROM stripe_disputes
     WHERE stripe_payment_intent_id = ${r.paymentIntentId} AND status = 'lost' AND loss_credits IS NULL
     ORDER BY closed_at, stripe_dispute_id
       FOR UPDATE`;
  if (lost.length === 0) return [];
  // Lost before a purchase carried the payment: the shop's now, so its erasure and the releases that pay its shortfall find it.
  await tx.$executeRaw`
    UPDATE stripe_disputes SET shop_id = ${p.shop_id}::uuid, updated_at = now()
     WHERE stripe_payment_intent_id = ${r.paymentIntentId} AND shop_id IS NULL`;
  const takes: LostDisputeTake[] = [];
  let taken = await lostDisputeCredits(tx, r.paymentIntentId);
  for (const d of lost) {
    const share = disputedCredits({ credits: p.credits, price: p.amount }, d.amount);
    if (share >= p.credits - taken) {
      // Nothing of the pack stays the merchant's: the purchase is refunded, and any other loss finds nothing left.
      takes.push({ kind: 'rest', disputeId: d.stripe_dispute_id, refund: await refundPurchaseByPaymentIntent(tx, { paymentIntentId: r.paymentIntentId, cause: 'dispute', traceId: r.traceId }) });
      break;
    }
    takes.push(await takeShare(tx, p, d.stripe_dispute_id, share, r.traceId));
    taken += share;
  }
  return takes;
}

/**
 * One dispute's share: what its hold still holds first (balance and
 * `reserved` fall together in one ledger row, the hold closes consumed),
 * then what is available (never what campaigns hold, as a refund does not
 * take it); the rest is the dispute's `loss_shortfall`, which releases of
 * reservations that existed at the loss pay (collect-dispute-loss-shortfall.ts).
 */
async function takeShare(tx: Tx, p: PurchaseRow, disputeId: string, share: number, traceId: string | undefined): Promise<LostDisputeTake> {
  const [hold] = await tx.$queryRaw<{ id: string; left: bigint }[]>`
    SELECT id, amount - consumed - released AS left FROM credit_reservations
     WHERE shop_id = ${p.shop_id}::uuid AND reservation_key = ${disputeHoldKey(disputeId)} AND status = 'active'
       FOR UPDATE`;
  const holdLeft = Number(hold?.left ?? 0n);
  const [w] = await tx.$queryRaw<{ available: bigint }[]>`
    SELECT balance - reserved AS available FROM credit_wallets WHERE shop_id = ${p.shop_id}::uuid FOR UPDATE`;
  const { fromHold, clawedBack, shortfall } = clawBackSplit(share, holdLeft, Number(w?.available ?? 0n));
  if (clawedBack > 0) {
    const change = await applyWalletChange(tx, {
      shopId: p.shop_id,
      type: 'refund',
      amount: -clawedBack,
      idempotencyKey: disputeLostKey(disputeId),
      reference: `stripe:${p.stripe_session_id}`,
      traceId,
      reservedDelta: -holdLeft,
    });
    // The dispute's loss_credits was null under its lock, so its key is unused; a replay here would leave the hold open.
    if (!change.applied) throw new Error(`ledger key of lost dispute ${disputeId} already used`);
  } else if (holdLeft > 0) {
    // A share of 0 (a dispute of 0): the hold, sized alike, holds nothing either; kept exact all the same.
    await tx.$executeRaw`UPDATE credit_wallets SET reserved = reserved - ${holdLeft}::bigint, updated_at = now() WHERE shop_id = ${p.shop_id}::uuid`;
  }
  if (hold) {
    await tx.$executeRaw`
      UPDATE credit_reservations SET consumed = consumed + ${fromHold}::bigint, released = released + ${holdLeft - fromHold}::bigint, status = 'closed', updated_at = now()
       WHERE id = ${hold.id}::uuid AND status = 'active'`;
  }
  const marked = await tx.$executeRaw`
    UPDATE stripe_disputes
       SET loss_credits = ${share}::bigint, loss_shortfall = ${shortfall}::bigint, loss_taken_at = now(), hold_shortfall = 0, updated_at = now()
     WHERE stripe_dispute_id = ${disputeId} AND status = 'lost' AND loss_credits IS NULL`;
  if (marked !== 1) throw new Error(`lost dispute ${disputeId} was taken meanwhile`);
  return { kind: 'share', shopId: p.shop_id, purchaseId: p.id, disputeId, credits: share, clawedBack, fromHold, shortfall };
}
