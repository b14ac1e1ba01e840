import { Router } from 'express';
import { z } from 'zod';
import { ingestWebhookEvent } from '../../../../domain/webhooks/ingest-event';
import { verifyShopifyHmac } from '../../../../domain/webhooks/verify-shopify-hmac';
import { AppError } from '../../../../lib/errors';
import type { ApiDeps } from '../deps';
import { invalidSignature, jsonOf, rawBody, rawOf } from './raw-body';

const headersSchema = z.object({
  webhookId: z.string().min(1).max(255),
  topic: z.string().min(1).max(255).regex(/^[a-z0-9_]+\/[a-z0-9_]+$/),
  shopDomain: z.string().max(255).regex(/^[a-z0-9][a-z0-9-]*\.myshopify\.com$/).optional(),
});

export function shopifyWebhookRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.post('/shopify', rawBody, async (req, res) => {
    const raw = rawOf(req);
    if (!verifyShopifyHmac(deps.config.SHOPIFY_API_SECRET, req.get('x-shopify-hmac-sha256'), raw)) {
      throw invalidSignature(deps.metrics, 'shopify');
    }
    const headers = headersSchema.safeParse({
      webhookId: req.get('x-shopify-webhook-id'),
      topic: req.get('x-shopify-topic'),
      shopDomain: req.get('x-shopify-shop-domain') || undefined,
    });
    if (!headers.success) {
      throw new AppError('VALIDATION_FAILED', 'Shopify webhook headers are missing or invalid', {
        details: headers.error.issues.map((i) => ({ path: `header.${i.path.join('.')}`, message: i.message })),
      });
    }
    const result = await ingestWebhookEvent(deps, {
      provider: 'shopify',
      eventId: headers.data.webhookId,
      topic: headers.data.topic,
      payload: jsonOf(raw),
      shopDomain: headers.data.shopDomain ?? null,
    });
    res.status(200).json(result.duplicate ? { duplicate: true } : { received: true });
  });
  return router;
}
