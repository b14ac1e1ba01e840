import { z } from 'zod';
import type { DbOrTx } from '../../../lib/db';
import { consentFromShopify, syncShopifyCustomer } from '../../contacts/sync-shopify-customer';
import { customerRefSchema } from '../../privacy/customer-ref';
import { exportCustomerData } from '../../privacy/export-customer-data';
import { redactCustomer } from '../../privacy/redact-customer';
import { redactShop } from '../../privacy/redact-shop';
import { markShopUninstalled, uninstallShop } from '../../shops/uninstall-shop';
import { inEventTransaction } from '../event-transaction';
import type { HandlerContext, WebhookEventRow, WebhookHandler } from '../types';

const shopRefSchema = z.object({
  shop_domain: z.string().max(255).optional(),
  myshopify_domain: z.string().max(255).optional(),
});

/** The event's shop: resolved at ingest from X-Shopify-Shop-Domain, else from the payload. */
async function shopOfEvent(db: DbOrTx, event: WebhookEventRow): Promise<string | null> {
  if (event.shop_id) return event.shop_id;
  const ref = shopRefSchema.safeParse(event.payload);
  const domain = ref.success ? (ref.data.shop_domain ?? ref.data.myshopify_domain) : undefined;
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
  const result = await uninstallShop(deps.db, shopId, now);
  return inEventTransaction(ctx, async (tx) => {
    await markShopUninstalled(tx, shopId, now);
    ctx.afterCommit(() => deps.logger.info({ webhookEventId: event.id, shopId, ...result }, 'shop uninstalled'));
    return { outcome: 'processed', shopId };
  });
};

// C0, DEL and C1 controls never belong in a name or an address (and NUL cannot be stored).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

const text = (max: number) =>
  z
    .string()
    .nullable()
    .optional()
    .transform((s) => {
      const t = s?.replace(CONTROL, '').trim();
      return t ? t.slice(0, max) : null;
    });

const customerSchema = z.object({
  id: z.union([z.number(), z.string().min(1)]).transform(String),
  email: text(254).transform((e) => (e && e.includes('@') ? e : null)),
  first_name: text(100),
  last_name: text(100),
  phone: z.string().max(64).nullable().optional(),
  updated_at: z.string().max(64).nullable().optional(),
  sms_marketing_consent: z
    .object({
      state: z.string().max(64).nullable().optional(),
      phone: z.string().max(64).nullable().optional(),
      consent_updated_at: z.string().max(64).nullable().optional(),
    })
    .nullable()
    .optional(),
});

function timeOf(...candidates: (string | null | undefined)[]): Date | null {
  for (const c of candidates) {
    const t = c ? Date.parse(c) : Number.NaN;
    if (Number.isFinite(t)) return new Date(t);
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
    const outcome = await syncShopifyCustomer(tx, {
      shopId,
      customerId: c.id,
      phone: c.phone ?? c.sms_marketing_consent?.phone ?? null,
      profile: consentTopic ? undefined : { email: c.email, firstName: c.first_name, lastName: c.last_name },
      consent: consentFromShopify(c.sms_marketing_consent?.state),
      updatedAt,
    });
    return { outcome: outcome === 'no_phone' ? 'ignored' : 'processed', shopId };
  });
};

const gdprSchema = z.object({
  customer: customerRefSchema,
  data_request: z.object({ id: z.union([z.number(), z.string()]).transform(String) }).optional(),
});

export const shopifyCustomerDataRequest: WebhookHandler = async (ctx) => {
  const { deps, event } = ctx;
  const shopId = await shopOfEvent(deps.db, event);
  if (!shopId) return ignore(ctx);
  const body = gdprSchema.parse(event.payload);
  return inEventTransaction(ctx, async (tx) => {
    const { contacts } = await exportCustomerData(tx, { requestId: event.id, shopId, customer: body.customer, shopifyRequestId: body.data_request?.id ?? null });
    ctx.afterCommit(() => deps.logger.info({ webhookEventId: event.id, shopId, privacyRequestId: event.id, contacts }, 'customer data request assembled'));
    return { outcome: 'processed', shopId };
  });
};

export const shopifyCustomerRedact: WebhookHandler = async (ctx) => {
  const { deps, event } = ctx;
  const shopId = await shopOfEvent(deps.db, event);
  if (!shopId) return ignore(ctx);
  const body = gdprSchema.parse(event.payload);
  return inEventTransaction(ctx, async (tx) => {
    const result = await redactCustomer(tx, { requestId: event.id, shopId, customer: body.customer, eventRowId: event.id });
    ctx.afterCommit(() => deps.logger.info({ webhookEventId: event.id, shopId, ...result }, 'customer redacted'));
    return { outcome: 'processed', shopId };
  });
};

export const shopifyShopRedact: WebhookHandler = async (ctx) => {
  const { deps, event } = ctx;
  const ref = shopRefSchema.safeParse(event.payload);
  const domain = ref.success ? (ref.data.shop_domain ?? ref.data.myshopify_domain ?? null) : null;
  return inEventTransaction(ctx, async (tx) => {
    // Deletes this very event too: nothing of the shop may remain, and marking it then updates no row.
    const result = await redactShop(tx, { shopId: event.shop_id, shopDomain: domain });
    ctx.afterCommit(() => deps.logger.info({ webhookEventId: event.id, ...result }, 'shop redacted'));
    return { outcome: 'processed' };
  });
};
