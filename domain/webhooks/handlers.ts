import { smsDeliveryReport } from './handlers/sms-delivery-report';
import { smsDeliveryReportBatch } from './handlers/sms-delivery-report-batch';
import { smsInbound } from './handlers/sms-inbound';
import {
  shopifyAppScopesUpdate,
  shopifyAppUninstalled,
  shopifyCustomerDataRequest,
  shopifyCustomerRedact,
  shopifyCustomerSync,
  shopifyShopRedact,
} from './handlers/shopify';
import {
  shopifyCheckout,
  shopifyOrderCancelled,
  shopifyOrderCreated,
  shopifyOrderTransactionCreated,
  shopifyRefundCreated,
} from './handlers/shopify-orders';
import { shopifyBulkOperationFinish } from './handlers/shopify-bulk';
import {
  stripeChargeRefunded,
  stripeDisputeClosed,
  stripeDisputeOpened,
  stripeRefundUpdated,
  stripeSessionExpired,
  stripeSessionPaid,
  stripeSessionsExpiredInBulk,
} from './handlers/stripe';
import type { BulkWebhookHandler, WebhookHandler } from './types';

const sms: Record<string, WebhookHandler> = {
  status: smsDeliveryReport,
  // A batched callback's row (split-report-batches.ts): normally applied by the bulk drain.
  'status-batch': smsDeliveryReportBatch,
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
    // One refund's failure, whichever of the three says so (Stripe may send several, under ids of their own): applied once per refund id.
    'charge.refund.updated': stripeRefundUpdated,
    'refund.failed': stripeRefundUpdated,
    'refund.updated': stripeRefundUpdated,
    'charge.dispute.created': stripeDisputeOpened,
    'charge.dispute.funds_withdrawn': stripeDisputeOpened,
    'charge.dispute.closed': stripeDisputeClosed,
  },
  shopify: {
    'app/uninstalled': shopifyAppUninstalled,
    'app/scopes_update': shopifyAppScopesUpdate,
    'customers/create': shopifyCustomerSync,
    'customers/update': shopifyCustomerSync,
    'customers_marketing_consent/update': shopifyCustomerSync,
    'customers/data_request': shopifyCustomerDataRequest,
    'customers/redact': shopifyCustomerRedact,
    'shop/redact': shopifyShopRedact,
    'orders/create': shopifyOrderCreated,
    'orders/cancelled': shopifyOrderCancelled,
    'refunds/create': shopifyRefundCreated,
    'order_transactions/create': shopifyOrderTransactionCreated,
    'checkouts/create': shopifyCheckout,
    'checkouts/update': shopifyCheckout,
    'bulk_operations/finish': shopifyBulkOperationFinish,
  },
  'sms-simulator': sms,
  'sms-mitto': sms,
};

/** provider → topic lookup that never reaches Object.prototype (a topic named `constructor`). */
function lookup<T>(table: Record<string, Record<string, T>>, provider: string, topic: string): T | undefined {
  return Object.hasOwn(table, provider) && Object.hasOwn(table[provider]!, topic) ? table[provider]![topic] : undefined;
}

/** The topics a provider's handlers act on (shopify.app.toml subscribes exactly Shopify's: test/shopify-app-toml.test.ts). */
export function handledTopics(provider: string): string[] {
  return Object.hasOwn(HANDLERS, provider) ? Object.keys(HANDLERS[provider]!) : [];
}

export function resolveWebhookHandler(provider: string, topic: string): WebhookHandler | undefined {
  return lookup(HANDLERS, provider, topic);
}

// provider → topic → the bulk form a drain uses for a pass's events of that
// topic (BulkWebhookHandler); every topic here has a per-event handler too.
const BULK_HANDLERS: Record<string, Record<string, BulkWebhookHandler>> = {
  stripe: {
    'checkout.session.expired': stripeSessionsExpiredInBulk,
  },
};

export function resolveBulkWebhookHandler(provider: string, topic: string): BulkWebhookHandler | undefined {
  return lookup(BULK_HANDLERS, provider, topic);
}
