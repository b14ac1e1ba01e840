import type { Router } from 'express';
import type { ApiDeps } from '../deps';
import { shopifyWebhookRoutes } from './shopify.routes';
import { smsWebhookRoutes } from './sms.routes';
import { stripeWebhookRoutes } from './stripe.routes';

/** Mounted at /webhooks before any JSON parser: each route reads its raw body. */
export function webhookRouters(deps: ApiDeps): Router[] {
  return [stripeWebhookRoutes(deps), shopifyWebhookRoutes(deps), smsWebhookRoutes(deps)];
}
