import type { Tx } from '../../lib/db';
import { applyWalletChange } from '../credits/apply-wallet-change';
import { lockPaymentIntent } from './payment-intent-lock';

export type RefundOutcome =
  | { kind: 'clawed_back'; shopId: string; purchaseId: string; credits: number; clawedBack: number; shortfall: number }
  /** Refunded before it was paid for (or before fulfilment ran): nothing granted, nothing to take. */
  | { kind: 'marked_refunded'; shopId: string; purchaseId: string }
  | { kind: 'already_refunded'; shopId: string; purchaseId: string }
  /** No purchase carries this payment intent yet; a later completion will see the refund event. */
  | { kind: 'no_purchase' };

interface PurchaseRow {
  id: string;
  shop_id: string;
  stripe_session_id: string;
  credits: number;
  status: 'pending' | 'paid' | 'refunded' | 'expired';
}

/**
 * Claws a refunded purchase's credits back, once (guarded paid → refunded
 * and ledger key `refund-<sessionId>`). Credits held for campaigns are never
 * taken: at most `balance - reserved` goes, and the rest is recorded on the
 * purchase as `refund_shortfall` for the credit runbook. The wallet row is
 * locked first, so a concurrent reservation cannot slip in between the
 * computation and the debit.
 */
export async function refundPurchaseByPaymentIntent(tx: Tx, r: { paymentIntentId: string; traceId?: string }): Promise<RefundOutcome> {
  await lockPaymentIntent(tx, r.paymentIntentId);
  const [p] = await tx.$queryRaw<PurchaseRow[]>`
    SELECT id, shop_id, stripe_session_id, credits, status FROM purchases WHERE stripe_payment_intent_id = ${r.paymentIntentId} FOR UPDATE`;
  if (!p) return { kind: 'no_purchase' };
  if (p.status === 'refunded') return { kind: 'already_refunded', shopId: p.shop_id, purchaseId: p.id };
  if (p.status !== 'paid') {
    await tx.$executeRaw`UPDATE purchases SET status = 'refunded', refunded_at = now(), updated_at = now() WHERE id = ${p.id}::uuid AND status = ${p.status}`;
    return { kind: 'marked_refunded', shopId: p.shop_id, purchaseId: p.id };
  }

  await tx.$executeRaw`INSERT INTO credit_wallets (shop_id) VALUES (${p.shop_id}::uuid) ON CONFLICT DO NOTHING`;
  const [w] = await tx.$queryRaw<{ balance: bigint; reserved: bigint }[]>`
    SELECT balance, reserved FROM credit_wallets WHERE shop_id = ${p.shop_id}::uuid FOR UPDATE`;
  const available = Number((w?.balance ?? 0n) - (w?.reserved ?? 0n));
  const clawedBack = Math.max(0, Math.min(p.credits, available));
  if (clawedBack > 0) {
    await applyWalletChange(tx, {
      shopId: p.shop_id,
      type: 'refund',
      amount: -clawedBack,
      idempotencyKey: `refund-${p.stripe_session_id}`,
      reference: `stripe:${p.stripe_session_id}`,
      traceId: r.traceId,
    });
  }
  const shortfall = p.credits - clawedBack;
  await tx.$executeRaw`
    UPDATE purchases SET status = 'refunded', refunded_at = now(), refund_shortfall = ${shortfall}::bigint, updated_at = now()
     WHERE id = ${p.id}::uuid AND status = 'paid'`;
  return { kind: 'clawed_back', shopId: p.shop_id, purchaseId: p.id, credits: p.credits, clawedBack, shortfall };
}
