import { z } from 'zod';
import { refundTransactionFact, type RefundMoneyPart, type ShopifyTransaction } from '../orders/refund-amounts';
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

/** A decimal amount as Shopify writes it ("12.50"), kept as text: minor units are computed exactly, never through a float. */
const decimal = z.union([z.string().max(32), z.number().nonnegative().transform(String)]).pipe(z.string().regex(/^\d{1,15}(\.\d{1,6})?$/, 'must be a decimal amount'));
const currency = z.string().regex(/^[A-Za-z]{3}$/, 'must be an ISO 4217 code').transform((c) => c.toUpperCase());
const shopifyTime = z.string().max(64).refine((t) => Number.isFinite(Date.parse(t)), 'must be a date-time');
/** customers/create, customers/update, customers_marketing_consent/update: a customer, which names no shop. */
export const customerSchema = z.object({
  id: z.union([z.number(), z.string().min(1)]).transform(String),
  email: text(254).transform((e) => (e && e.includes('@') ? e : null)),
  first_name: text(100),
  last_name: text(100),
  phone: z.string().max(64).nullable().optional(),
  updated_at: z.string().max(64).nullable().optional(),
  // Shopify's own order summary of the customer (REST payloads carry it): used where orders/create has not (domain/orders/).
  orders_count: z.number().int().min(0).max(1_000_000_000).nullable().optional(),
  total_spent: decimal.nullable().optional(),
  currency: currency.nullable().optional(),
  sms_marketing_consent: z
    .object({
      state: z.string().max(64).nullable().optional(),
      phone: z.string().max(64).nullable().optional(),
      consent_updated_at: z.string().max(64).nullable().optional(),
      // Evidence for the consent record (domain/consent/).
      opt_in_level: z.string().max(64).nullable().optional(),
      consent_collected_from: z.string().max(64).nullable().optional(),
    })
    .nullable()
    .optional(),
  domain: absent,
  myshopify_domain: absent,
  shop_domain: absent,
  customer: absent,
  // A refund body (it has its order's id and an id of its own): never read as a customer.
  order_id: absent,
  refund_line_items: absent,
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

/** The customer an order or checkout names: only its id and phone are read. */
const orderCustomer = z
  .object({ id: shopifyId.transform(String).nullable().optional(), phone: z.string().max(64).nullable().optional() })
  .nullable()
  .optional();
const MAX_DISCOUNT_CODES = 20;

/**
 * An order's or a checkout's billing or shipping address: only the number
 * typed with it and its country are read (domain/orders/buyer-phones.ts). Anything else there
 * is not read, and a malformed one is no number rather than a refused body
 * (it is Shopify's, signed, and would only be resent).
 */
const orderAddress = z.unknown().transform((a) => {
  const phone = typeof a === 'object' && a !== null ? (a as { phone?: unknown }).phone : undefined;
  const country = typeof a === 'object' && a !== null ? (a as { country_code?: unknown }).country_code : undefined;
  return {
    phone: typeof phone === 'string' && phone.length <= 64 ? phone : null,
    countryCode: typeof country === 'string' && country.length <= 8 ? country : null,
  };
});

/**
 * orders/create: only what the order record keeps (domain/orders/). Unknown
 * keys (line items, …) and the addresses but for their number and country
 * are never read, and every kept text is
 * bounded; discount codes past the first 20 are dropped, not refused (the
 * body is signed and Shopify would only resend it). A checkout body (it has
 * an abandoned-checkout URL) and a GDPR body (it names its shop) are refused.
 */
export const orderSchema = z.object({
  id: shopifyId.transform(String),
  total_price: decimal,
  currency,
  created_at: shopifyTime,
  // Set on an order Shopify cancelled (orders/cancelled; rarely, one created cancelled): it earns nothing.
  cancelled_at: shopifyTime.nullable().optional(),
  // Placed through a test gateway (Bogus, or a provider in test mode): the merchant trying the checkout, it earns nothing.
  test: z.boolean().nullable().optional(),
  customer: orderCustomer,
  phone: z.string().max(64).nullable().optional(),
  billing_address: orderAddress.optional(),
  shipping_address: orderAddress.optional(),
  landing_site: text(2048),
  referring_site: text(2048),
  source_name: text(100),
  discount_codes: z
    .array(z.unknown())
    .max(250)
    .nullable()
    .optional()
    .transform((codes) =>
      (codes ?? [])
        .map((c) => (typeof c === 'object' && c !== null && typeof (c as { code?: unknown }).code === 'string' ? (c as { code: string }).code : null))
        .map((c) => c?.replace(CONTROL, '').trim().slice(0, 255) ?? '')
        .filter((c) => c.length > 0)
        .slice(0, MAX_DISCOUNT_CODES),
    ),
  abandoned_checkout_url: absent,
  shop_domain: absent,
  myshopify_domain: absent,
});
export type ShopifyOrderBody = z.infer<typeof orderSchema>;

/**
 * orders/cancelled: the order as orders/create has it, with its cancellation
 * time, which it must have: Shopify signs the body, not the topic, so an
 * orders/create body sent again under this topic would otherwise withdraw
 * what that order earned.
 */
export const orderCancelledSchema = orderSchema.extend({ cancelled_at: shopifyTime });

const MAX_REFUND_TRANSACTIONS = 250;
const MAX_REFUND_PARTS = 1_000;

/** A transaction's fields that say whether, and how much, it gave back (domain/orders/refund-amounts.ts). */
const transactionFields = {
  id: shopifyId.transform(String),
  // The transaction it follows: a refund's sale, or (a later state of a refund transaction) that refund transaction.
  parent_id: shopifyId.transform(String).nullable().optional(),
  kind: z.string().min(1).max(64),
  status: z.string().max(64).nullable().optional(),
  amount: decimal,
  currency: currency.nullable().optional(),
};
const refundTransaction = z.object(transactionFields);

/** A decimal amount that may be negative (an order adjustment), as text. */
const signedDecimal = z.union([z.string().max(33), z.number().finite().transform(String)]).pipe(z.string().regex(/^-?\d{1,15}(\.\d{1,6})?$/));
const money = z.object({ amount: signedDecimal, currency_code: currency });
const moneyBag = z.object({ shop_money: money, presentment_money: money });
type MoneyBag = z.infer<typeof moneyBag>;
const bagOf = (v: unknown): MoneyBag | null => {
  const parsed = moneyBag.safeParse(v);
  return parsed.success ? parsed.data : null;
};
const fieldOf = (v: unknown, key: string): unknown => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined);

/**
 * The refund's money bags (each figure in the shop's and the customer's
 * currency): its line items' subtotal and tax, its shipping lines' subtotal
 * and tax, its duties and additional fees, minus its order adjustments. A
 * part whose bag is missing or not a bag is left out (both of its figures):
 * the body is Shopify's, signed, and refusing it would only make Shopify
 * resend it. At most 1 000 parts are read.
 */
function refundParts(r: { refund_line_items: unknown[]; refund_shipping_lines?: unknown[] | null; order_adjustments?: unknown[] | null; total_duties_set?: unknown; total_additional_fees_set?: unknown }): RefundMoneyPart[] {
  const bags: [1 | -1, unknown][] = [
    ...r.refund_line_items.flatMap((l): [1, unknown][] => [[1, fieldOf(l, 'subtotal_set')], [1, fieldOf(l, 'total_tax_set')]]),
    ...(r.refund_shipping_lines ?? []).flatMap((l): [1, unknown][] => [[1, fieldOf(l, 'subtotal_amount_set')], [1, fieldOf(l, 'tax_amount_set')]]),
    [1, r.total_duties_set],
    [1, r.total_additional_fees_set],
    ...(r.order_adjustments ?? []).flatMap((a): [-1, unknown][] => [[-1, fieldOf(a, 'amount_set')], [-1, fieldOf(a, 'tax_amount_set')]]),
  ];
  const parts: RefundMoneyPart[] = [];
  for (const [sign, v] of bags.slice(0, MAX_REFUND_PARTS)) {
    const bag = bagOf(v);
    if (!bag) continue;
    parts.push({
      sign,
      money: {
        shop: { amount: bag.shop_money.amount, currency: bag.shop_money.currency_code },
        presentment: { amount: bag.presentment_money.amount, currency: bag.presentment_money.currency_code },
      },
    });
  }
  return parts;
}

/**
 * refunds/create: a Refund, which names its order (`order_id`) and carries
 * its `transactions` and `refund_line_items` (both arrays, empty or not).
 * Shopify signs the body, not the topic: a body of another topic sent under
 * this one would take revenue off an order, so an order body (it has a total,
 * line items and a customer, and its refunds are nested, never at the top),
 * a checkout, a transaction or a GDPR body is refused, as is a body without
 * the arrays. Of the line items, shipping lines, duties, fees and order
 * adjustments only their money bags are read (`parts`: what the refund is in
 * the shop's currency, for a transaction paid in the customer's);
 * transactions past 250 are refused (a refund has a handful).
 */
export const refundSchema = z
  .object({
    id: shopifyId.transform(String),
    order_id: shopifyId.transform(String),
    created_at: shopifyTime,
    processed_at: shopifyTime.nullable().optional(),
    transactions: z.array(refundTransaction).max(MAX_REFUND_TRANSACTIONS),
    refund_line_items: z.array(z.unknown()),
    refund_shipping_lines: z.array(z.unknown()).nullable().optional(),
    order_adjustments: z.array(z.unknown()).nullable().optional(),
    total_duties_set: z.unknown().optional(),
    total_additional_fees_set: z.unknown().optional(),
    total_price: absent,
    line_items: absent,
    customer: absent,
    kind: absent,
    abandoned_checkout_url: absent,
    shop_domain: absent,
    myshopify_domain: absent,
    domain: absent,
  })
  .transform((r) => ({ ...r, parts: refundParts(r) }));
export type ShopifyRefundBody = z.infer<typeof refundSchema>;

/**
 * order_transactions/create: one transaction of an order (a sale, a capture,
 * a refund…), sent when it is created and for its later states; only a
 * refund's is acted on (domain/orders/record-refund.ts). Shopify signs the
 * body, not the topic: a successful refund transaction takes revenue off its
 * order, so a body that is not a transaction is refused: a refund (its
 * transactions and line items are at the top, the transaction's kind and
 * amount are not), an order (a total, line items, a customer), a checkout, a
 * customer (no order id, kind or amount) or a GDPR body.
 */
export const orderTransactionSchema = z.object({
  ...transactionFields,
  order_id: shopifyId.transform(String),
  created_at: shopifyTime.nullable().optional(),
  processed_at: shopifyTime.nullable().optional(),
  transactions: absent,
  refund_line_items: absent,
  refunds: absent,
  total_price: absent,
  line_items: absent,
  customer: absent,
  token: absent,
  abandoned_checkout_url: absent,
  email: absent,
  first_name: absent,
  last_name: absent,
  shop_domain: absent,
  myshopify_domain: absent,
  domain: absent,
});
export type ShopifyOrderTransactionBody = z.infer<typeof orderTransactionSchema>;

/** A parsed transaction (refunds/create's or order_transactions/create's) as domain/orders reads it. */
export const shopifyTransactionOf = (t: { id: string; parent_id?: string | null; kind: string; status?: string | null; amount: string; currency?: string | null }): ShopifyTransaction => ({
  id: t.id,
  parentId: t.parent_id ?? null,
  kind: t.kind,
  status: t.status ?? null,
  amount: t.amount,
  currency: t.currency ?? null,
});

/**
 * Whether an order_transactions/create body is a refund transaction the
 * handler records (kind `refund`, a currency, an amount above zero): the
 * same rule as shopifyOrderTransactionCreated's, so what is not stored is
 * exactly what that handler would only have marked ignored.
 */
const isRecordedTransaction = (parsed: unknown): boolean =>
  refundTransactionFact(shopifyTransactionOf(parsed as ShopifyOrderTransactionBody), null) !== null;

/**
 * checkouts/create, checkouts/update: the token, who (customer id, the
 * buyer's numbers read as an order's are: phone, the customer's, the
 * addresses' number and country), the abandoned-checkout URL, when it
 * changed and whether it completed (domain/checkouts/). An order body (no
 * abandoned-checkout URL) or a GDPR body is refused.
 */
export const checkoutSchema = z.object({
  token: z.string().min(1).max(128).regex(/^[A-Za-z0-9_-]+$/, 'must be a checkout token'),
  abandoned_checkout_url: z.url({ protocol: /^https$/ }).max(2048).nullable(),
  updated_at: shopifyTime,
  created_at: shopifyTime.nullable().optional(),
  completed_at: shopifyTime.nullable().optional(),
  customer: orderCustomer,
  phone: z.string().max(64).nullable().optional(),
  billing_address: orderAddress.optional(),
  shipping_address: orderAddress.optional(),
  shop_domain: absent,
  myshopify_domain: absent,
  order_number: absent,
});
export type ShopifyCheckoutBody = z.infer<typeof checkoutSchema>;

/**
 * app/scopes_update: the app's granted scopes changed. Names no shop (the
 * header decides); its only effect is invalidating the shop's token, so a
 * body misattributed to another shop costs that shop one token exchange.
 */
export const appScopesUpdateSchema = z.object({
  id: shopifyId.optional(),
  previous: z.array(z.string().max(100)).max(200),
  current: z.array(z.string().max(100)).max(200),
  updated_at: shopifyTime.nullable().optional(),
  domain: absent,
  myshopify_domain: absent,
  shop_domain: absent,
  customer: absent,
});

/**
 * bulk_operations/finish: a bulk operation of the app ended. Names no shop
 * (the header decides); its only effect is on a sync of that shop whose
 * operation has this id (anything else is ignored), so a body misattributed
 * to another shop finds nothing.
 */
export const bulkOperationFinishSchema = z.object({
  admin_graphql_api_id: z.string().max(255).regex(/^gid:\/\/shopify\/BulkOperation\/\d+$/, 'must be a BulkOperation id'),
  status: z.string().min(1).max(64),
  error_code: z.string().max(64).nullable().optional(),
  type: z.string().max(32).nullable().optional(),
  created_at: shopifyTime.nullable().optional(),
  completed_at: shopifyTime.nullable().optional(),
  id: absent,
  domain: absent,
  myshopify_domain: absent,
  shop_domain: absent,
  customer: absent,
});

/**
 * For each topic we act on: its schema, how to read the shop its body names
 * (none: the header decides), and, for a topic most of whose bodies nothing
 * acts on, which ones something does (none: all of them).
 */
const TOPICS: Record<string, { schema: z.ZodType; shopOf?: (parsed: unknown) => string; actedOn?: (parsed: unknown) => boolean }> = {
  'app/uninstalled': { schema: shopResourceSchema, shopOf: (p) => (p as { shopDomain: string }).shopDomain },
  'app/scopes_update': { schema: appScopesUpdateSchema },
  'shop/redact': { schema: shopRedactSchema, shopOf: (p) => (p as { shop_domain: string }).shop_domain },
  'customers/redact': { schema: customerRedactSchema, shopOf: (p) => (p as { shop_domain: string }).shop_domain },
  'customers/data_request': { schema: customerDataRequestSchema, shopOf: (p) => (p as { shop_domain: string }).shop_domain },
  'customers/create': { schema: customerSchema },
  'customers/update': { schema: customerSchema },
  'customers_marketing_consent/update': { schema: customerSchema },
  'orders/create': { schema: orderSchema },
  'orders/cancelled': { schema: orderCancelledSchema },
  'refunds/create': { schema: refundSchema },
  // Shopify sends one for every transaction of every order (each sale, authorization, capture…); only a refund's counts.
  'order_transactions/create': { schema: orderTransactionSchema, actedOn: isRecordedTransaction },
  'checkouts/create': { schema: checkoutSchema },
  'checkouts/update': { schema: checkoutSchema },
  'bulk_operations/finish': { schema: bulkOperationFinishSchema },
};

export type ShopifyBodyCheck =
  /** A topic we do not act on. */
  | { known: false }
  /** Not a body of its topic. */
  | { known: true; valid: false; issues: z.core.$ZodIssue[] }
  /**
   * Valid for its topic; `shopDomain` is the shop the signed body names, or
   * null when its topic's body names none; `actedOn` false: nothing acts on
   * this body (a transaction that is not a refund), so it need not be stored.
   */
  | { known: true; valid: true; shopDomain: string | null; actedOn: boolean };

/** The body checked against its topic's schema (the lookup never reaches Object.prototype). */
export function checkShopifyBody(topic: string, payload: unknown): ShopifyBodyCheck {
  if (!Object.hasOwn(TOPICS, topic)) return { known: false };
  const t = TOPICS[topic]!;
  const parsed = t.schema.safeParse(payload);
  if (!parsed.success) return { known: true, valid: false, issues: parsed.error.issues };
  return { known: true, valid: true, shopDomain: t.shopOf ? t.shopOf(parsed.data) : null, actedOn: t.actedOn ? t.actedOn(parsed.data) : true };
}

/** Whether the topic's body names its shop (then the body, never the header, decides the shop). */
export function bodyNamesShop(topic: string): boolean {
  return Object.hasOwn(TOPICS, topic) && TOPICS[topic]!.shopOf !== undefined;
}
