import { z } from 'zod';
import { customerRefSchema } from '../privacy/customer-ref';

// Bodies of the Shopify topics we act on, one schema per topic. Shopify signs
// the body only (topic, shop and webhook id are unsigned headers), so the
// route checks a body against ITS topic's schema before storing it, and the
// handler parses it again. A body of one topic is never valid as another
// topic whose effect is different: each schema requires what its topic has
// and refuses what another topic's body has.

const MYSHOPIFY = /^[a-z0-9][a-z0-9-]*\.myshopify\.com$/;
const myshopifyDomain = z.string().max(255).toLowerCase().regex(MYSHOPIFY, 'must be a *.myshopify.com domain');
const shopifyId = z.union([z.number(), z.string().min(1).max(64)]);
/** A key another topic's body carries; its presence means the body is not this topic's. */
const absent = z.never({ error: 'belongs to another topic' }).optional();

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

/** customers/create, customers/update, customers_marketing_consent/update: a customer, which names no shop. */
export const customerSchema = z.object({
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
  domain: absent,
  myshopify_domain: absent,
  shop_domain: absent,
  customer: absent,
});

/**
 * app/uninstalled: the Shop resource. Its shop is `myshopify_domain` (or
 * `domain` when that is the myshopify one; `domain` may be a custom domain).
 */
const shopResourceSchema = z
  .object({
    id: shopifyId,
    myshopify_domain: myshopifyDomain.optional(),
    domain: z.string().max(255).toLowerCase().optional(),
    shop_domain: absent,
    customer: absent,
  })
  .transform((s, ctx) => {
    const shop = s.myshopify_domain ?? (s.domain && MYSHOPIFY.test(s.domain) ? s.domain : undefined);
    if (!shop) {
      ctx.addIssue({ code: 'custom', path: ['myshopify_domain'], message: 'the shop resource must name its *.myshopify.com domain' });
      return z.NEVER;
    }
    return { shopDomain: shop };
  });

/** shop/redact: exactly `{shop_id, shop_domain}` (it erases everything of the shop, so nothing else is read as one). */
export const shopRedactSchema = z.object({ shop_id: shopifyId.optional(), shop_domain: myshopifyDomain }).strict();

/** customers/redact: names the shop and the customer; a data request is another topic. */
export const customerRedactSchema = z.object({
  shop_id: shopifyId.optional(),
  shop_domain: myshopifyDomain,
  customer: customerRefSchema,
  orders_to_redact: z.array(shopifyId).optional(),
  data_request: absent,
  orders_requested: absent,
});

/** customers/data_request: names the shop, the customer and Shopify's request id. */
export const customerDataRequestSchema = z.object({
  shop_id: shopifyId.optional(),
  shop_domain: myshopifyDomain,
  customer: customerRefSchema,
  orders_requested: z.array(shopifyId).optional(),
  data_request: z.object({ id: shopifyId.transform(String) }),
  orders_to_redact: absent,
});

/** For each topic we act on: its schema, and how to read the shop its body names (none: the header decides). */
const TOPICS: Record<string, { schema: z.ZodType; shopOf?: (parsed: unknown) => string }> = {
  'app/uninstalled': { schema: shopResourceSchema, shopOf: (p) => (p as { shopDomain: string }).shopDomain },
  'shop/redact': { schema: shopRedactSchema, shopOf: (p) => (p as { shop_domain: string }).shop_domain },
  'customers/redact': { schema: customerRedactSchema, shopOf: (p) => (p as { shop_domain: string }).shop_domain },
  'customers/data_request': { schema: customerDataRequestSchema, shopOf: (p) => (p as { shop_domain: string }).shop_domain },
  'customers/create': { schema: customerSchema },
  'customers/update': { schema: customerSchema },
  'customers_marketing_consent/update': { schema: customerSchema },
};

export type ShopifyBodyCheck =
  /** A topic we do not act on. */
  | { known: false }
  /** Not a body of its topic. */
  | { known: true; valid: false; issues: z.core.$ZodIssue[] }
  /** Valid for its topic; `shopDomain` is the shop the signed body names, or null when its topic's body names none. */
  | { known: true; valid: true; shopDomain: string | null };

/** The body checked against its topic's schema (the lookup never reaches Object.prototype). */
export function checkShopifyBody(topic: string, payload: unknown): ShopifyBodyCheck {
  if (!Object.hasOwn(TOPICS, topic)) return { known: false };
  const t = TOPICS[topic]!;
  const parsed = t.schema.safeParse(payload);
  if (!parsed.success) return { known: true, valid: false, issues: parsed.error.issues };
  return { known: true, valid: true, shopDomain: t.shopOf ? t.shopOf(parsed.data) : null };
}

/** Whether the topic's body names its shop (then the body, never the header, decides the shop). */
export function bodyNamesShop(topic: string): boolean {
  return Object.hasOwn(TOPICS, topic) && TOPICS[topic]!.shopOf !== undefined;
}
