import { smsDeliveryReport } from './handlers/sms-delivery-report';
import { smsInbound } from './handlers/sms-inbound';
import {
  shopifyAppUninstalled,
  shopifyCustomerDataRequest,
  shopifyCustomerRedact,
  shopifyCustomerSync,
  shopifyShopRedact,
} from './handlers/shopify';
import { stripeChargeRefunded, stripeSessionExpired, stripeSessionPaid } from './handlers/stripe';
import type { WebhookHandler } from './types';

const sms: Record<string, WebhookHandler> = {
  status: smsDeliveryReport,
  inbound: smsInbound,
};

// provider → topic → handler. A topic with no entry is stored and marked
// `ignored` (Shopify and Stripe send more topics than we act on).
const HANDLERS: Record<string, Record<string, WebhookHandler>> = {
  stripe: {
    'checkout.session.completed': stripeSessionPaid,
    'checkout.session.async_payment_succeeded': stripeSessionPaid,
    'checkout.session.expired': stripeSessionExpired,
    'charge.refunded': stripeChargeRefunded,
  },
  shopify: {
    'app/uninstalled': shopifyAppUninstalled,
    'customers/create': shopifyCustomerSync,
    'customers/update': shopifyCustomerSync,
    'customers_marketing_consent/update': shopifyCustomerSync,
    'customers/data_request': shopifyCustomerDataRequest,
    'customers/redact': shopifyCustomerRedact,
    'shop/redact': shopifyShopRedact,
  },
  'sms-simulator': sms,
  'sms-mitto': sms,
};

export function resolveWebhookHandler(provider: string, topic: string): WebhookHandler | undefined {
  return Object.hasOwn(HANDLERS, provider) && Object.hasOwn(HANDLERS[provider]!, topic) ? HANDLERS[provider]![topic] : undefined;
}
