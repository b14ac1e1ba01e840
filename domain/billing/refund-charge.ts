import type { Tx } from '../../lib/db';
import { chargeRefundKeys } from './charge-refund-keys';
import { refundPurchaseByPaymentIntent, type RefundOutcome } from './refund-purchase';
import type { RestoreOutcome } from './restore-failed-refund';
import { restoreWaitingFailure } from './restore-waiting-failure';
import { takeEarlierRefund } from './take-earlier-refund';

export interface ChargeRefundOutcome {
  refund: RefundOutcome;
  /** The refund's failure, processed before it, applied now (null: none waited for it). */
  restore: RestoreOutcome | null;
}

/**
 * `charge.refunded` (a full refund), made by Stripe at `madeAt` (the
 * event's `created`): the pack's credits taken back
 * (refundPurchaseByPaymentIntent), then given back at once if this
 * refund's failure was processed first (restoreWaitingFailure), so the end
 * is the same whichever of the two events came first. The event names its
 * refund (chargeRefundKeys): a refund already undone by its failure is
 * not taken again when its event is replayed.
 */
export async function refundCharge(
  tx: Tx,
  r: { paymentIntentId: string; madeAt: Date; stripeEventId: string; payload: unknown; traceId?: string },
): Promise<ChargeRefundOutcome> {
  const refundKeys = await chargeRefundKeys(tx, r.stripeEventId, r.payload);
  const refund = await refundPurchaseByPaymentIntent(tx, { paymentIntentId: r.paymentIntentId, cause: 'refund', refundKeys, madeAt: r.madeAt, traceId: r.traceId });
  // Only a refund that refunded the purchase now can be the one a waiting failure failed.
  const tookIt = refund.kind === 'clawed_back' || refund.kind === 'marked_refunded';
  const restore = tookIt
    ? await restoreWaitingFailure(tx, { paymentIntentId: r.paymentIntentId, refundMadeAt: r.madeAt, refundKeys, traceId: r.traceId })
    : refund.kind === 'already_refunded'
      ? await takeEarlierRefund(tx, { paymentIntentId: r.paymentIntentId, madeAt: r.madeAt, refundKeys, traceId: r.traceId })
      : null;
  return { refund, restore };
}
