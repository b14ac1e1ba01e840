import { Router } from 'express';
import { z } from 'zod';
import { ingestWebhookEvent } from '../../../../domain/webhooks/ingest-event';
import { shopifyBodyDigest } from '../../../../domain/webhooks/shopify-body-digest';
import { checkShopifyBody } from '../../../../domain/webhooks/shopify-payloads';
import { verifyShopifyHmac } from '../../../../domain/webhooks/verify-shopify-hmac';
import { AppError } from '../../../../lib/errors';
import type { ApiDeps } from '../deps';
import { invalidSignature, jsonOf, rawBody, rawOf } from './raw-body';
import { EXACT_ROUTING } from '../router-options';

const headersSchema = z.object({
  webhookId: z.string().min(1).max(255),
  topic: z.string().min(1).max(255).regex(/^[a-z0-9_]+\/[a-z0-9_]+$/),
  shopDomain: z.string().max(255).toLowerCase().regex(/^[a-z0-9][a-z0-9-]*\.myshopify\.com$/).optional(),
});

/**
 * Shopify signs the body only. What the unsigned headers claim is trusted
 * only as far as the body backs it: the body must be valid for the header's
 * topic (400), a body that names its shop must name the header's shop (401),
 * and a body already stored is a duplicate whatever webhook id comes with it
 * (its SHA-256 is part of the dedup). Nothing of a refused delivery is stored,
 * nor a signed body nothing acts on (a transaction that is not a refund).
 */
export function shopifyWebhookRoutes(deps: ApiDeps): Router {
  const router = Router(EXACT_ROUTING);
  router.post('/shopify', rawBody(deps, 'shopify'), async (req, res) => {
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
    const { webhookId, topic, shopDomain: headerShop } = headers.data;
    const payload = jsonOf(raw);
    const check = checkShopifyBody(topic, payload);
    if (!check.known) {
      // Not stored: nothing acts on it, and a stored copy would make the same
      // signed body a duplicate when it later comes under its real topic.
      deps.metrics.webhookEvents.inc({ source: 'shopify', outcome: 'ignored' });
      res.status(200).json({ ignored: true });
      return;
    }
    if (!check.valid) {
      throw new AppError('VALIDATION_FAILED', `The body is not a ${topic} body`, {
        details: check.issues.slice(0, 20).map((i) => ({ path: `body.${i.path.join('.')}`, message: i.message })),
      });
    }
    if (check.shopDomain !== null && headerShop !== undefined && check.shopDomain !== headerShop) {
      // The signature does not cover the shop the unsigned header claims.
      deps.metrics.webhookEvents.inc({ source: 'shopify', outcome: 'invalid_signature' });
      throw new AppError('INVALID_SIGNATURE', 'The signed body names another shop than X-Shopify-Shop-Domain');
    }
    if (!check.actedOn) {
      // Signed and valid, but nothing acts on it (order_transactions/create for a
      // sale, a capture…: one per transaction of every order). Storing it would
      // only grow the inbox with the shop's sales until retention prunes it.
      deps.metrics.webhookEvents.inc({ source: 'shopify', outcome: 'not_stored' });
      res.status(200).json({ ignored: true });
      return;
    }
    const result = await ingestWebhookEvent(deps, {
      provider: 'shopify',
      eventId: webhookId,
      topic,
      payload,
      shopDomain: check.shopDomain ?? headerShop ?? null,
      bodySha256: await shopifyBodyDigest(deps.db, topic, raw, check.shopDomain),
    });
    res.status(200).json(result.duplicate ? { duplicate: true } : { received: true });
  });
  return router;
}
