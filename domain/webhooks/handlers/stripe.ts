import { z } from 'zod';
import { expireCheckoutSession, expireCheckoutSessionsSql } from '../../billing/expire-checkout-session';
import { fulfilCheckoutSession } from '../../billing/fulfil-checkout-session';
import { refundPurchaseByPaymentIntent } from '../../billing/refund-purchase';
import { inEventTransaction } from '../event-transaction';
import { markEventsSql } from '../mark-event';
import type { BulkWebhookHandler, HandlerOutcome, WebhookEventRow, WebhookHandler } from '../types';

// Only the fields we act on; Stripe objects carry far more.
const idOf = z.union([z.string(), z.object({ id: z.string() }).transform((o) => o.id)]);
const eventOf = <T extends z.ZodType>(object: T) => z.object({ id: z.string(), type: z.string(), data: z.object({ object }) });

const sessionEvent = eventOf(
  z.object({
    id: z.string().min(1),
    payment_status: z.string().optional(),
    payment_intent: idOf.nullable().optional(),
  }),
);

const chargeEvent = eventOf(
  z.object({
    id: z.string().min(1),
    payment_intent: idOf.nullable().optional(),
    refunded: z.boolean().optional(),
    amount: z.number().optional(),
    amount_refunded: z.number().optional(),
  }),
);

/**
 * `checkout.session.completed` (only when paid: delayed methods complete
 * unpaid and succeed later) and `checkout.session.async_payment_succeeded`.
 */
export const stripeSessionPaid: WebhookHandler = async (ctx) => {
  const { event, deps } = ctx;
  const session = sessionEvent.parse(event.payload).data.object;
  if (event.topic === 'checkout.session.completed' && session.payment_status !== 'paid') {
    return inEventTransaction(ctx, async () => ({ outcome: 'ignored' }));
  }
  return inEventTransaction(ctx, async (tx) => {
    const result = await fulfilCheckoutSession(tx, {
      sessionId: session.id,
      paymentIntentId: session.payment_intent ?? null,
      traceId: event.trace_id ?? undefined,
    });
    if (result.kind === 'no_purchase') {
      ctx.afterCommit(() => deps.logger.warn({ webhookEventId: event.id, sessionId: session.id }, 'paid Checkout Session has no purchase row; ignored'));
      return { outcome: 'ignored' };
    }
    if (result.kind === 'granted') {
      ctx.afterCommit(() => deps.logger.info({ webhookEventId: event.id, sessionId: session.id, shopId: result.shopId, credits: result.credits }, 'credits purchased'));
    }
    return { outcome: 'processed', shopId: result.shopId };
  });
};

/**
 * A pass of `checkout.session.expired`: one statement expires every pending
 * purchase named and marks the events, as the per-event handler would (an
 * expired session with no pending purchase is still `processed`).
 */
export const stripeSessionsExpiredInBulk: BulkWebhookHandler = async (deps, events) => {
  const done: { event: WebhookEventRow; outcome: HandlerOutcome }[] = [];
  const rest: WebhookEventRow[] = [];
  const sessionIds: string[] = [];
  for (const event of events) {
    const parsed = sessionEvent.safeParse(event.payload);
    if (parsed.success) {
      sessionIds.push(parsed.data.data.object.id);
      done.push({ event, outcome: 'processed' });
    } else {
      rest.push(event);
    }
  }
  if (done.length > 0) {
    // The effect and the marks in one statement: both commit, or neither.
    const [row] = await deps.db.$queryRaw<{ marked: bigint }[]>`
      WITH expired AS (${expireCheckoutSessionsSql(sessionIds)}),
      marked AS (${markEventsSql(done.map((d) => d.event.id), 'processed')} RETURNING id)
      SELECT count(*) AS marked FROM marked`;
    const marked = Number(row?.marked ?? 0);
    // Rows erased meanwhile (shop/redact) are not marked; nothing else can be missing.
    if (marked !== done.length) deps.logger.info({ marked, taken: done.length }, 'some expired-session events were gone before they were marked');
  }
  return { done, rest };
};

export const stripeSessionExpired: WebhookHandler = async (ctx) => {
  const session = sessionEvent.parse(ctx.event.payload).data.object;
  return inEventTransaction(ctx, async (tx) => {
    await expireCheckoutSession(tx, session.id);
    return { outcome: 'processed' };
  });
};

const disputeEvent = eventOf(
  z.object({
    id: z.string().min(1),
    status: z.string(),
    payment_intent: idOf.nullable().optional(),
  }),
);

/** `charge.refunded`, matched to its purchase through the payment intent. */
export const stripeChargeRefunded: WebhookHandler = async (ctx) => {
  const { event, deps } = ctx;
  const charge = chargeEvent.parse(event.payload).data.object;
  const paymentIntentId = charge.payment_intent ?? null;
  if (!paymentIntentId || charge.refunded !== true) {
    // Partial refunds keep the credits: a pack is not divisible. The runbook covers manual adjustment.
    ctx.afterCommit(() => deps.logger.warn({ webhookEventId: event.id, chargeId: charge.id }, 'charge.refunded without a full refund or payment intent; no credits clawed back'));
    return inEventTransaction(ctx, async () => ({ outcome: 'ignored' }));
  }
  return clawBackPurchase(ctx, paymentIntentId);
};

/**
 * `charge.dispute.closed`: a dispute the merchant lost returned the money to
 * the card holder, as a full refund does, so the pack's credits go back the
 * same way, once (one clawback per purchase, whichever of the two comes
 * first). Won, warning-closed or other outcomes keep the credits.
 */
export const stripeDisputeClosed: WebhookHandler = async (ctx) => {
  const { event, deps } = ctx;
  const dispute = disputeEvent.parse(event.payload).data.object;
  const paymentIntentId = dispute.payment_intent ?? null;
  if (dispute.status !== 'lost' || !paymentIntentId) {
    if (dispute.status === 'lost') ctx.afterCommit(() => deps.logger.warn({ webhookEventId: event.id, disputeId: dispute.id }, 'lost dispute without a payment intent; no credits clawed back'));
    return inEventTransaction(ctx, async () => ({ outcome: 'ignored' }));
  }
  return clawBackPurchase(ctx, paymentIntentId);
};

async function clawBackPurchase(ctx: Parameters<WebhookHandler>[0], paymentIntentId: string): ReturnType<WebhookHandler> {
  const { event, deps } = ctx;
  return inEventTransaction(ctx, async (tx) => {
    const result = await refundPurchaseByPaymentIntent(tx, { paymentIntentId, traceId: event.trace_id ?? undefined });
    if (result.kind === 'no_purchase') return { outcome: 'ignored' };
    if (result.kind === 'clawed_back' && result.shortfall > 0) {
      ctx.afterCommit(() => {
        deps.metrics.creditRefundShortfall.inc(result.shortfall);
        deps.logger.warn(
          { webhookEventId: event.id, shopId: result.shopId, purchaseId: result.purchaseId, credits: result.credits, clawedBack: result.clawedBack, shortfall: result.shortfall },
          'refund could not claw back every credit (already reserved or spent); see docs/webhooks.md (Stripe)',
        );
      });
    }
    return { outcome: 'processed', shopId: result.shopId };
  });
}
