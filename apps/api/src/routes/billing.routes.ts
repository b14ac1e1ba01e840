import { Router } from 'express';
import { z } from 'zod';
import { createCheckout } from '../../../../domain/billing/create-checkout';
import { findCreditPack, listCreditPacks } from '../../../../domain/billing/list-packs';
import { createStripeClient } from '../../../../domain/billing/stripe-client';
import { parseIdempotencyKey } from '../../../../domain/idempotency/key-header';
import { AppError } from '../../../../lib/errors';
import type { ApiDeps } from '../deps';
import { idempotency, idempotencyGuardOf } from '../middleware/idempotency';
import { shopOf } from '../middleware/session-auth';
import { validated } from '../middleware/validated';
import { EXACT_ROUTING } from '../router-options';

export function billingRoutes(deps: ApiDeps): Router {
  const router = Router(EXACT_ROUTING);
  const stripe = createStripeClient(deps.config);
  // An unknown pack is a schema failure: answered before any key is claimed.
  const checkoutBody = z.strictObject({
    packId: z.string().min(1).max(64).refine((id) => findCreditPack(deps.config, id) !== undefined, 'not a pack listed by GET /api/billing/packs'),
  });

  router.get('/billing/packs', (_req, res) => {
    res.json({ data: listCreditPacks(deps.config) });
  });

  router.post(
    '/billing/checkout',
    ...validated({ body: checkoutBody, use: [idempotency(deps, { required: true })] }, async ({ body }, req, res) => {
      const key = parseIdempotencyKey(req.headers['idempotency-key']);
      if (key === null) throw new AppError('IDEMPOTENCY_KEY_REQUIRED', 'This route requires an Idempotency-Key header');
      const { shopId, shopDomain } = shopOf(res);
      const result = await createCheckout(
        { db: deps.db, stripe, config: deps.config },
        { shop: { id: shopId, domain: shopDomain }, packId: body.packId, idempotencyKey: key, guard: idempotencyGuardOf(res) },
      );
      res.status(201).json(result);
    }),
  );
  return router;
}
