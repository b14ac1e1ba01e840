import { z } from 'zod';
import { expireCheckoutSession, expireCheckoutSessionsSql } from '../../billing/expire-checkout-session';
import { fulfilCheckoutSession } from '../../billing/fulfil-checkout-session';
import { closeDispute } from '../../billing/close-dispute';
import { openDispute } from '../../billing/open-dispute';
import { refundCharge, restoreFailedRefund } from '../../billing/refund-rounds';
import type { RefundOutcome } from '../../billing/refund-purchase';
import type { LostDisputeTake } from '../../billing/take-lost-disputes';
import { inEventTransaction, type EffectResult } from '../event-transaction';
import { markEventsSql } from '../mark-event';
import type { BulkWebhookHandler, HandlerOutcome, WebhookEventRow, WebhookHandler } from '../types';

// Only the fields we act on; Stripe objects carry far more.
const idOf = z.union([z.string(), z.object({ id: z.string() }).transform((o) => o.id)]);
const eventOf = <T extends z.ZodType>(object: T) => z.object({ id: z.string(), type: z.string(), data: z.object({ object }) });

/**
 * When Stripe made the event (its `created`, seconds), which orders a refund
 * and its failure whatever order they reach us in; when we received it if
 * the event does not say.
 */
function stripeMadeAt(event: WebhookEventRow): Date {
  const created = z.object({ created: z.number().finite() }).safeParse(event.payload);
  return created.success ? new Date(created.data.created * 1000) : event.received_at;
}

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

// An amount we cannot store (not a whole number of minor units, or past a
// Postgres integer) is no amount: the dispute is then about the whole pack.
const minorUnits = z.unknown().transform((v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= 2_147_483_647 ? v : null));

const disputeEvent = eventOf(
  z.object({
    id: z.string().min(1),
    status: z.string(),
    payment_intent: idOf.nullable().optional(),
    amount: minorUnits,
  }),
);

const refundEvent = eventOf(
  z.object({
    id: z.string().min(1),
    status: z.string().nullable().optional(),
    payment_intent: idOf.nullable().optional(),
    // When Stripe made the refund (seconds): its failure is only a take's made at or after it.
    created: z.number().finite().optional().catch(undefined),
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
  return inEventTransaction(ctx, async (tx) => {
    const { refund, restore } = await refundCharge(tx, {
      paymentIntentId,
      madeAt: stripeMadeAt(event),
      stripeEventId: event.event_id,
      payload: event.payload,
      traceId: event.trace_id ?? undefined,
    });
    if (refund.kind === 'already_undone') {
      ctx.afterCommit(() =>
        deps.logger.info({ webhookEventId: event.id, shopId: refund.shopId, purchaseId: refund.purchaseId }, 'charge.refunded of a refund whose failure gave the credits back: nothing taken again'),
      );
    }
    if (restore?.kind !== 'restored') return refundEffect(ctx, refund);
    // The refund's failure came first: taken and given back in this transaction, so no shortfall is left to count.
    ctx.afterCommit(() =>
      deps.logger.info({ webhookEventId: event.id, shopId: restore.shopId, purchaseId: restore.purchaseId, restored: restore.restored }, 'refund whose failure was processed first: its credits taken and restored'),
    );
    return { outcome: 'processed', shopId: restore.shopId };
  });
};

/**
 * `charge.dispute.created` and `charge.dispute.funds_withdrawn` (either may
 * come first, or alone): the dispute is recorded open and the disputed
 * credits are held until it closes (domain/billing/open-dispute.ts), once
 * per dispute.
 */
export const stripeDisputeOpened: WebhookHandler = async (ctx) => {
  const { event, deps } = ctx;
  const dispute = disputeEvent.parse(event.payload).data.object;
  const paymentIntentId = dispute.payment_intent ?? null;
  if (!paymentIntentId) {
    ctx.afterCommit(() => deps.logger.warn({ webhookEventId: event.id, disputeId: dispute.id }, 'dispute without a payment intent; no credits held'));
    return inEventTransaction(ctx, async () => ({ outcome: 'ignored' }));
  }
  return inEventTransaction(ctx, async (tx) => {
    const result = await openDispute(tx, { disputeId: dispute.id, paymentIntentId, amount: dispute.amount });
    if (result.kind === 'no_purchase') return { outcome: 'ignored' };
    if (result.kind === 'held') {
      const { hold, shopId } = result;
      ctx.afterCommit(() => {
        deps.logger.warn({ webhookEventId: event.id, shopId, disputeId: dispute.id, held: hold.held, shortfall: hold.shortfall }, 'dispute opened: credits held until it closes');
      });
    }
    return { outcome: 'processed', shopId: result.shopId };
  });
};

/**
 * `charge.dispute.closed`: lost, the disputed amount went back to the card
 * holder, so the pack's share of it goes, once, the hold first; the rest of
 * the pack stays the merchant's (a dispute of the whole price takes the pack
 * as a full refund does: one clawback per purchase, whichever of the two
 * comes first). Won, warning-closed or any other end releases the hold.
 */
export const stripeDisputeClosed: WebhookHandler = async (ctx) => {
  const { event, deps } = ctx;
  const dispute = disputeEvent.parse(event.payload).data.object;
  const paymentIntentId = dispute.payment_intent ?? null;
  if (!paymentIntentId) {
    if (dispute.status === 'lost') ctx.afterCommit(() => deps.logger.warn({ webhookEventId: event.id, disputeId: dispute.id }, 'lost dispute without a payment intent; no credits clawed back'));
    return inEventTransaction(ctx, async () => ({ outcome: 'ignored' }));
  }
  return inEventTransaction(ctx, async (tx) => {
    const result = await closeDispute(tx, { disputeId: dispute.id, paymentIntentId, status: dispute.status, amount: dispute.amount, traceId: event.trace_id ?? undefined });
    if (result.kind === 'lost') for (const take of result.takes) lostDisputeEffect(ctx, take);
    return result.shopId ? { outcome: 'processed', shopId: result.shopId } : { outcome: 'ignored' };
  });
};

/**
 * `charge.refund.updated`, `refund.failed` and `refund.updated` (each
 * carries the Refund itself; Stripe sends the first for some payment
 * methods only, the other two for every refund): a refund that failed or
 * was cancelled returns the money to the merchant's payment, so the
 * credits its `charge.refunded` took come back, once per refund id
 * whichever of the three events (or how many, in any order, at once) says
 * so (restoreFailedRefund, domain/billing/refund-rounds.ts: `stripe_refund_failures`
 * and `failed_refund_ids` are keyed by the refund id, under the payment
 * intent's lock); processed before that `charge.refunded`, the failure is
 * recorded and the refund gives the credits back when it comes. Any other
 * update (pending, succeeded, metadata) changes nothing: `ignored`.
 */
export const stripeRefundUpdated: WebhookHandler = async (ctx) => {
  const { event, deps } = ctx;
  const refund = refundEvent.parse(event.payload).data.object;
  const paymentIntentId = refund.payment_intent ?? null;
  if ((refund.status !== 'failed' && refund.status !== 'canceled') || !paymentIntentId) {
    return inEventTransaction(ctx, async () => ({ outcome: 'ignored' }));
  }
  return inEventTransaction(ctx, async (tx) => {
    const result = await restoreFailedRefund(tx, {
      refundId: refund.id,
      paymentIntentId,
      failedAt: stripeMadeAt(event),
      refundMadeAt: refund.created === undefined ? null : new Date(refund.created * 1000),
      traceId: event.trace_id ?? undefined,
    });
    if (result.kind === 'no_purchase') return { outcome: 'ignored' };
    if (result.kind === 'waiting') {
      ctx.afterCommit(() => deps.logger.info({ webhookEventId: event.id, shopId: result.shopId, refundId: refund.id }, 'refund failed before its charge.refunded was processed: recorded, applied when it is'));
    }
    if (result.kind === 'restored') {
      ctx.afterCommit(() =>
        deps.logger.info({ webhookEventId: event.id, shopId: result.shopId, purchaseId: result.purchaseId, refundId: refund.id, restored: result.restored }, 'refund failed: its credits restored'),
      );
      // A later refund of the payment, received while this one held the pack, took it now: its shortfall counts as any refund's.
      if (result.retaken) refundEffect(ctx, result.retaken.refund);
    }
    if (result.kind === 'not_taken' && result.status === 'refunded') {
      ctx.afterCommit(() =>
        deps.logger.warn({ webhookEventId: event.id, shopId: result.shopId, refundId: refund.id, cause: result.cause }, 'refund failed, but a lost dispute (or a refund before refund causes were kept) took the credits: left to the runbook'),
      );
    }
    return { outcome: 'processed', shopId: result.shopId };
  });
};

/** A lost dispute's take: a share that could not all be taken is a shortfall, counted and logged as a refund's. */
function lostDisputeEffect(ctx: Parameters<WebhookHandler>[0], take: LostDisputeTake): void {
  if (take.kind === 'rest') {
    refundEffect(ctx, take.refund);
    return;
  }
  if (take.shortfall === 0) return;
  const { event, deps } = ctx;
  ctx.afterCommit(() => {
    deps.metrics.creditRefundShortfall.inc(take.shortfall);
    deps.logger.warn(
      { webhookEventId: event.id, shopId: take.shopId, purchaseId: take.purchaseId, disputeId: take.disputeId, credits: take.credits, clawedBack: take.clawedBack, shortfall: take.shortfall },
      'lost dispute could not take its whole share (already reserved or spent); see docs/webhooks.md (Stripe)',
    );
  });
}

function refundEffect(ctx: Parameters<WebhookHandler>[0], result: RefundOutcome): EffectResult {
  const { event, deps } = ctx;
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
}
