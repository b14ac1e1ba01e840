import { Router } from 'express';
import { createStripeClient } from '../../../../domain/billing/stripe-client';
import { verifyStripeEvent } from '../../../../domain/billing/verify-stripe-event';
import { ingestWebhookEvent } from '../../../../domain/webhooks/ingest-event';
import { AppError } from '../../../../lib/errors';
import type { ApiDeps } from '../deps';
import { invalidSignature, rawBody, rawOf } from './raw-body';
import { EXACT_ROUTING } from '../router-options';

/** The shop a Stripe object names (our checkout puts it in metadata and client_reference_id). */
function shopIdOf(object: unknown): string | null {
  const o = object as { metadata?: { shopId?: unknown } | null; client_reference_id?: unknown } | null;
  const id = o?.metadata?.shopId ?? o?.client_reference_id;
  return typeof id === 'string' ? id : null;
}

export function stripeWebhookRoutes(deps: ApiDeps): Router {
  const router = Router(EXACT_ROUTING);
  const stripe = createStripeClient(deps.config);
  router.post('/stripe', rawBody(deps, 'stripe'), async (req, res) => {
    const raw = rawOf(req);
    const verified = verifyStripeEvent(stripe, raw, req.get('stripe-signature'), deps.config.STRIPE_WEBHOOK_SECRET, deps.now().getTime());
    if (!verified.ok) {
      if (verified.reason === 'invalid_signature') throw invalidSignature(deps.metrics, 'stripe');
      throw new AppError('VALIDATION_FAILED', 'Not a Stripe event', { details: [{ path: '', message: 'expected an event with id and type' }] });
    }
    const { event } = verified;
    const result = await ingestWebhookEvent(deps, {
      provider: 'stripe',
      eventId: event.id,
      topic: event.type,
      // constructEvent parsed the signed bytes already.
      payload: event,
      shopId: shopIdOf(event.data?.object),
    });
    res.status(200).json(result.duplicate ? { duplicate: true } : { received: true });
  });
  return router;
}
