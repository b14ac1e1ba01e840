import { z } from 'zod';
import type { Consent } from '../contacts/contact-input';
import { MAX_TAGS } from '../contacts/contact-input';
import { normalizePhone, phoneHash } from '../contacts/phone';
import { consentFromShopify } from '../contacts/sync-shopify-customer';
import { toMinorUnits } from '../orders/money';
import { isStorableInstant } from '../campaigns/audience';
import { cutText, toStorable } from '../../lib/storable-text';

/**
 * The bulk query the sync runs (Admin GraphQL 2025-10): every customer with
 * what a contact and its order summary need. No nested connection, so each
 * JSONL line is one customer. `phone` and `smsMarketingConsent` are the
 * Customer fields; `defaultPhoneNumber` (since 2025-04, where later versions
 * keep the phone's consent) is read when they are absent.
 */
export const CUSTOMER_BULK_QUERY = `{
  customers {
    edges {
      node {
        id
        firstName
        lastName
        email
        phone
        tags
        updatedAt
        numberOfOrders
        amountSpent { amount currencyCode }
        lastOrder { createdAt }
        smsMarketingConsent { marketingState marketingOptInLevel consentUpdatedAt consentCollectedFrom }
        defaultPhoneNumber { phoneNumber marketingState marketingOptInLevel marketingUpdatedAt marketingCollectedFrom }
      }
    }
  }
}`;

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * At most `max` UTF-16 units, never half a character: a cut through an emoji
 * (a surrogate pair), like a lone surrogate in the export, is text jsonb
 * refuses, and the chunk's one statement would fail for every customer in it.
 */
const cut = (s: string, max: number): string => cutText((toStorable(s.replace(CONTROL, '')) as string).trim(), max);
const text = (max: number) =>
  z
    .string()
    .nullable()
    .optional()
    .catch(null)
    .transform((s) => (s ? cut(s, max) : '') || null);
const time = z
  .string()
  .max(64)
  .nullable()
  .optional()
  .catch(null)
  .transform((t) => {
    const ms = t ? Date.parse(t) : Number.NaN;
    // A date JavaScript reads but timestamptz refuses (year 0, six digits) would fail the chunk's statement.
    return isStorableInstant(ms) ? new Date(ms) : null;
  });

/**
 * One line of the export. Unknown keys are ignored and a malformed optional
 * field reads as absent (`catch`): one odd customer never stops a sync. Only
 * the id is required.
 */
const lineSchema = z.object({
  id: z.string().min(1).max(255).regex(/^gid:\/\/shopify\/Customer\/\d+$/),
  __parentId: z.never({ error: 'a child line, not a customer' }).optional(),
  firstName: text(100),
  lastName: text(100),
  email: text(254).transform((e) => (e && e.includes('@') ? e : null)),
  phone: z.string().max(64).nullable().optional().catch(null),
  tags: z.array(z.unknown()).max(1_000).nullable().optional().catch(null),
  updatedAt: time,
  numberOfOrders: z.union([z.string().regex(/^\d{1,12}$/), z.number().int().min(0)]).nullable().optional().catch(null),
  amountSpent: z
    .object({ amount: z.string().max(32), currencyCode: z.string().regex(/^[A-Za-z]{3}$/) })
    .nullable()
    .optional()
    .catch(null),
  lastOrder: z.object({ createdAt: time }).nullable().optional().catch(null),
  smsMarketingConsent: z
    .object({
      marketingState: text(64),
      marketingOptInLevel: text(64),
      consentUpdatedAt: text(64),
      consentCollectedFrom: text(64),
    })
    .nullable()
    .optional()
    .catch(null),
  defaultPhoneNumber: z
    .object({
      phoneNumber: z.string().max(64).nullable().optional().catch(null),
      marketingState: text(64),
      marketingOptInLevel: text(64),
      marketingUpdatedAt: text(64),
      marketingCollectedFrom: text(64),
    })
    .nullable()
    .optional()
    .catch(null),
});

/** A customer of the export, ready for the chunk's statements. */
export interface SyncCustomer {
  customerId: string;
  /** E.164 and its hash; null when Shopify has no phone or an invalid one (`phoneProblem`). */
  phoneE164: string | null;
  phoneHash: string | null;
  phoneProblem: 'missing' | 'invalid' | null;
  email: string | null;
  firstName: string | null;
  lastName: string | null;
  consent: Consent | null;
  shopifyState: string | null;
  optInLevel: string | null;
  consentCollectedFrom: string | null;
  consentUpdatedAt: string | null;
  /** Shopify's time for the customer (updatedAt): a newer webhook already applied wins over it. */
  updatedAt: Date | null;
  tags: string[];
  ordersCount: number | null;
  spentMinor: string | null;
  currency: string | null;
  lastOrderAt: Date | null;
}

/**
 * The customer's id as webhooks, orders and checkouts carry it (`123`), not
 * the GraphQL id the export gives (`gid://shopify/Customer/123`): one form
 * on the contact, or a customer synced at install is not found by the
 * `customers/*` webhooks that follow (a new number became a second contact,
 * the old one staying subscribed). Write-back makes the GraphQL id again.
 */
export function customerIdOf(id: string): string {
  return /^gid:\/\/shopify\/Customer\/([0-9]+)$/.exec(id)?.[1] ?? id;
}

/** A parsed JSONL line → a customer, or null (a child line, a line that is not a customer). */
export function readBulkCustomer(value: unknown): SyncCustomer | null {
  const parsed = lineSchema.safeParse(value);
  if (!parsed.success) return null;
  const c = parsed.data;
  const raw = (c.phone ?? c.defaultPhoneNumber?.phoneNumber)?.trim() ?? '';
  const e164 = raw ? normalizePhone(raw) : null;
  const dpn = c.defaultPhoneNumber;
  const consent =
    c.smsMarketingConsent ??
    (dpn?.marketingState
      ? { marketingState: dpn.marketingState, marketingOptInLevel: dpn.marketingOptInLevel, consentUpdatedAt: dpn.marketingUpdatedAt, consentCollectedFrom: dpn.marketingCollectedFrom }
      : null);
  const currency = c.amountSpent?.currencyCode.toUpperCase() ?? null;
  const spent = c.amountSpent && currency ? toMinorUnits(c.amountSpent.amount, currency) : null;
  const count = c.numberOfOrders === null || c.numberOfOrders === undefined ? null : Number(c.numberOfOrders);
  const tags: string[] = [];
  for (const t of c.tags ?? []) {
    if (typeof t !== 'string') continue;
    const tag = cut(t.toLowerCase(), 64);
    if (tag && !tags.includes(tag)) tags.push(tag);
    if (tags.length >= MAX_TAGS) break;
  }
  return {
    customerId: customerIdOf(c.id),
    phoneE164: e164,
    phoneHash: e164 ? phoneHash(e164) : null,
    phoneProblem: !raw ? 'missing' : e164 ? null : 'invalid',
    email: c.email,
    firstName: c.firstName,
    lastName: c.lastName,
    consent: consentFromShopify(consent?.marketingState) ?? null,
    shopifyState: consent?.marketingState ?? null,
    optInLevel: consent?.marketingOptInLevel ?? null,
    consentCollectedFrom: consent?.consentCollectedFrom ?? null,
    consentUpdatedAt: consent?.consentUpdatedAt ?? null,
    updatedAt: c.updatedAt,
    tags,
    ordersCount: count !== null && Number.isSafeInteger(count) && count <= 1_000_000_000 ? count : null,
    spentMinor: spent === null ? null : spent.toString(),
    currency: spent === null ? null : currency,
    lastOrderAt: c.lastOrder?.createdAt ?? null,
  };
}
