import type { Tx } from '../../lib/db';
import { refundCharge, type ChargeRefundOutcome } from './refund-charge';

/**
 * A full refund of the payment whose `charge.refunded` came while an
 * earlier refund still held the pack (`already_refunded`: that refund's
 * failure, made before this refund, was not processed yet) took nothing
 * then, and its keys joined no purchase. Once the failure gives the pack
 * back, the refund is taken now, in the failure's transaction, as in
 * Stripe's order (refundCharge: the next round's keys, and its own failure
 * if that came first): the stored event is the record of it. The oldest
 * (Stripe's time) full `charge.refunded` of the payment whose keys are
 * neither in `refund_keys` nor in `failed_refund_ids`; null when none.
 * The caller holds the payment intent's lock, the shop's wallet and the
 * purchase, paid again.
 */
export async function takeUnappliedRefund(tx: Tx, r: { paymentIntentId: string; traceId?: string }): Promise<ChargeRefundOutcome | null> {
  const [e] = await tx.$queryRaw<{ event_id: string; payload: unknown; made_at: Date }[]>`
    SELECT e.event_id, e.payload,
           CASE WHEN jsonb_typeof(e.payload->'created') = 'number' THEN to_timestamp((e.payload->>'created')::double precision) ELSE e.received_at END AS made_at
      FROM webhook_events e
      JOIN purchases p ON p.stripe_payment_intent_id = ${r.paymentIntentId}
     WHERE e.provider = 'stripe' AND e.topic = 'charge.refunded'
       AND e.payload->'data'->'object'->>'payment_intent' = ${r.paymentIntentId}
       AND COALESCE((e.payload->'data'->'object'->>'refunded')::boolean, false)
       AND NOT stripe_charge_refund_keys(e.event_id, e.payload) <@ (p.refund_keys || p.failed_refund_ids)
     ORDER BY made_at, e.event_id
     LIMIT 1`;
  if (!e) return null;
  return refundCharge(tx, { paymentIntentId: r.paymentIntentId, madeAt: e.made_at, stripeEventId: e.event_id, payload: e.payload, traceId: r.traceId });
}
