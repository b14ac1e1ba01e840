import type { DbOrTx } from '../../../lib/db';
import { linkCustomerCheckouts } from '../../checkouts/link-customer-checkouts';
import { consentFromShopify, syncShopifyCustomer } from '../../contacts/sync-shopify-customer';
import { queueFlowTrigger } from '../../flows/queue-flow-trigger';
import { applyShopifyCustomerSummary } from '../../orders/apply-customer-summary';
import { attributeSummaryOrder } from '../../orders/attribute-summary-order';
import { normalizePhone, phoneHash } from '../../contacts/phone';
import { lockBuyerPhones } from '../../orders/buyer-phone-lock';
import { lockShopifyCustomer } from '../../orders/customer-lock';
import { linkCustomerOrders } from '../../orders/link-customer-orders';
import { countAttribution } from '../../orders/count-attribution';
import { exportCustomerData } from '../../privacy/export-customer-data';
import { isStorableInstant } from '../../campaigns/audience';
import { redactCustomer } from '../../privacy/redact-customer';
import { requestShopErasure } from '../../privacy/request-shop-erasure';
import { invalidateAccessToken } from '../../shops/access-token/token-store';
import { markShopUninstalled, uninstallShop } from '../../shops/uninstall-shop';
import { inEventTransaction } from '../event-transaction';
import { publishAfterCommit } from '../publish-after-commit';
import { appScopesUpdateSchema, bodyNamesShop, checkShopifyBody, customerDataRequestSchema, customerRedactSchema, customerSchema, shopRedactSchema } from '../shopify-payloads';
import type { HandlerContext, WebhookEventRow, WebhookHandler } from '../types';

/**
 * The event's shop. Where the topic's body names one, the signed body
 * decides (the route refused a header that disagreed; an older row whose
 * header named another shop acts on the body's shop or on none). Otherwise
 * the header's shop, resolved at ingest.
 */
async function shopOfEvent(db: DbOrTx, event: WebhookEventRow): Promise<string | null> {
  if (!bodyNamesShop(event.topic)) return event.shop_id;
  const check = checkShopifyBody(event.topic, event.payload);
  const domain = check.known && check.valid ? check.shopDomain : null;
  if (!domain) return null;
  const [row] = await db.$queryRaw<{ id: string }[]>`SELECT id FROM shops WHERE domain = ${domain}`;
  return row?.id ?? null;
}

const ignore = (ctx: HandlerContext) => inEventTransaction(ctx, async () => ({ outcome: 'ignored' }));

export const shopifyAppUninstalled: WebhookHandler = async (ctx) => {
  const { deps, event } = ctx;
  const shopId = await shopOfEvent(deps.db, event);
  if (!shopId) return ignore(ctx);
  const now = deps.now();
  // The installation this uninstall ended: a shop installed again since is left alone.
  const of = { receivedAt: event.received_at };
  const result = await uninstallShop(deps.db, shopId, now, of);
  return inEventTransaction(ctx, async (tx) => {
    if (result === null || (await markShopUninstalled(tx, shopId, now, of)) === null) {
      ctx.afterCommit(() => deps.logger.warn({ webhookEventId: event.id, shopId }, 'app/uninstalled of an earlier installation ignored: the shop was installed again after it was received'));
      return { outcome: 'ignored', shopId };
    }
    ctx.afterCommit(() => deps.logger.info({ webhookEventId: event.id, shopId, ...result }, 'shop uninstalled'));
    return { outcome: 'processed', shopId };
  });
};

/**
 * app/scopes_update: the stored token was granted the previous scopes, so it
 * is invalidated and the shop's next /api request exchanges one with the
 * current scopes. A token obtained after the change (its exchange already
 * carries the new scopes) is kept: an update delivered late does not cost a
 * second exchange.
 */
export const shopifyAppScopesUpdate: WebhookHandler = async (ctx) => {
  const { deps, event } = ctx;
  const shopId = await shopOfEvent(deps.db, event);
  if (!shopId) return ignore(ctx);
  const body = appScopesUpdateSchema.parse(event.payload);
  const changedAt = timeOf(body.updated_at) ?? event.received_at;
  return inEventTransaction(ctx, async (tx) => {
    const invalidated = await invalidateAccessToken(tx, shopId, { obtainedBefore: changedAt });
    ctx.afterCommit(() => deps.logger.info({ webhookEventId: event.id, shopId, invalidated, scopes: body.current.join(',') }, 'shop scopes updated'));
    return { outcome: 'processed', shopId };
  });
};

/** The first candidate that is a time Postgres can store: year 0 or a six-digit year parses, then fails every statement (the event retried until it is given up). */
function timeOf(...candidates: (string | null | undefined)[]): Date | null {
  for (const c of candidates) {
    const t = c ? Date.parse(c) : Number.NaN;
    if (isStorableInstant(t)) return new Date(t);
  }
  return null;
}

/** customers/create, customers/update, customers_marketing_consent/update. */
export const shopifyCustomerSync: WebhookHandler = async (ctx) => {
  const { deps, event } = ctx;
  const shopId = await shopOfEvent(deps.db, event);
  if (!shopId) return ignore(ctx);
  const c = customerSchema.parse(event.payload);
  const consentTopic = event.topic === 'customers_marketing_consent/update';
  const updatedAt = timeOf(c.updated_at, c.sms_marketing_consent?.consent_updated_at) ?? event.received_at;
  return inEventTransaction(ctx, async (tx) => {
    // Before the contact row, as orders/create takes it: the two link the customer's order once, whichever commits first.
    // Then the number's, as an order of no customer takes its numbers': one such order of this number is linked once too.
    const phone = c.phone ?? c.sms_marketing_consent?.phone ?? null;
    await lockShopifyCustomer(tx, shopId, c.id);
    const e164 = phone ? normalizePhone(phone) : null;
    if (e164) await lockBuyerPhones(tx, shopId, [phoneHash(e164)]);
    const outcome = await syncShopifyCustomer(tx, {
      shopId,
      customerId: c.id,
      phone,
      profile: consentTopic ? undefined : { email: c.email, firstName: c.first_name, lastName: c.last_name },
      consent: consentFromShopify(c.sms_marketing_consent?.state),
      updatedAt,
      phoneHashKey: deps.config.PHONE_HASH_KEY,
      consentEvidence: {
        collectedAt: timeOf(c.sms_marketing_consent?.consent_updated_at) ?? updatedAt,
        shopifyState: c.sms_marketing_consent?.state ?? null,
        optInLevel: c.sms_marketing_consent?.opt_in_level ?? null,
        consentCollectedFrom: c.sms_marketing_consent?.consent_collected_from ?? null,
        consentUpdatedAt: c.sms_marketing_consent?.consent_updated_at ?? null,
        webhookEventId: event.id,
        topic: event.topic,
      },
    });
    // Orders that came before this contact (Shopify does not order its webhooks), the customer's and those of no
    // customer its number alone names: linked now, and their post-purchase trigger queued if the contact is
    // subscribed (docs/flows.md, "Orders before their contact").
    const linked = await linkCustomerOrders(tx, { shopId, customerId: c.id, traceId: event.trace_id });
    for (const row of linked.triggers) publishAfterCommit(ctx, row, 'flow trigger');
    if (linked.orderIds.length > 0) {
      ctx.afterCommit(() => deps.logger.info({ webhookEventId: event.id, shopId, contactId: linked.contactId, linkedOrders: linked.orderIds.length, flowTriggers: linked.triggers.length }, 'shopify orders linked to their contact'));
    }
    // Open checkouts that came before this contact, likewise: their abandoned-checkout trigger queued again, now
    // that the job finds their buyer (it decides on consent, completion and purchases as for any checkout).
    const checkouts = await linkCustomerCheckouts(tx, { shopId, customerId: c.id });
    for (const token of checkouts) {
      publishAfterCommit(ctx, await queueFlowTrigger(tx, { shopId, trigger: { kind: 'checkout_abandoned', token }, traceId: event.trace_id }), 'flow trigger');
    }
    if (checkouts.length > 0) {
      ctx.afterCommit(() => deps.logger.info({ webhookEventId: event.id, shopId, linkedCheckouts: checkouts.length }, 'shopify checkouts linked to their contact'));
    }
    if (!consentTopic) {
      const summary = { shopId, customerId: c.id, ordersCount: c.orders_count ?? null, totalSpent: c.total_spent ?? null, currency: c.currency ?? null };
      // Before the summary moves: an order only the summary tells of is attributed against the figures held.
      const attributed = await attributeSummaryOrder(tx, { ...summary, at: updatedAt });
      await applyShopifyCustomerSummary(tx, summary);
      if (attributed) {
        ctx.afterCommit(() => countAttribution(deps.metrics, attributed));
      }
    }
    return { outcome: outcome === 'no_phone' ? 'ignored' : 'processed', shopId };
  });
};

export const shopifyCustomerDataRequest: WebhookHandler = async (ctx) => {
  const { deps, event } = ctx;
  const shopId = await shopOfEvent(deps.db, event);
  if (!shopId) return ignore(ctx);
  const body = customerDataRequestSchema.parse(event.payload);
  return inEventTransaction(ctx, async (tx) => {
    const { contacts } = await exportCustomerData(tx, {
      requestId: event.id,
      shopId,
      customer: body.customer,
      shopifyRequestId: body.data_request.id,
      ordersRequested: body.orders_requested?.map(String),
    });
    ctx.afterCommit(() => deps.logger.info({ webhookEventId: event.id, shopId, privacyRequestId: event.id, contacts }, 'customer data request assembled'));
    return { outcome: 'processed', shopId };
  });
};

export const shopifyCustomerRedact: WebhookHandler = async (ctx) => {
  const { deps, event } = ctx;
  const shopId = await shopOfEvent(deps.db, event);
  if (!shopId) return ignore(ctx);
  const body = customerRedactSchema.parse(event.payload);
  return inEventTransaction(ctx, async (tx) => {
    const result = await redactCustomer(tx, {
      requestId: event.id,
      shopId,
      customer: body.customer,
      eventRowId: event.id,
      ordersToRedact: body.orders_to_redact?.map(String),
      phoneHashKey: deps.config.PHONE_HASH_KEY,
    });
    ctx.afterCommit(() => deps.logger.info({ webhookEventId: event.id, shopId, ...result }, 'customer redacted'));
    return { outcome: 'processed', shopId };
  });
};

/**
 * shop/redact: marks the shop for erasure and hands it to its job (bounded
 * whatever the shop's size; the job deletes in short chunks, see
 * domain/privacy/erase-shop.ts). Only the shop the signed body names.
 */
export const shopifyShopRedact: WebhookHandler = async (ctx) => {
  const { deps, event } = ctx;
  const body = shopRedactSchema.safeParse(event.payload);
  if (!body.success) return ignore(ctx);
  return inEventTransaction(ctx, async (tx) => {
    // Deletes this very event too, so marking it then updates no row; the shop's other stored events go with its erasure.
    const request = await requestShopErasure(tx, { shopDomain: body.data.shop_domain, traceId: event.trace_id, eventId: event.id });
    const { outbox, ...logged } = request;
    ctx.afterCommit(() => deps.logger.info({ webhookEventId: event.id, ...logged }, request.shopId ? 'shop erasure requested' : 'shop/redact for no known shop'));
    publishAfterCommit(ctx, outbox, 'shop erasure');
    return { outcome: 'processed' };
  });
};
