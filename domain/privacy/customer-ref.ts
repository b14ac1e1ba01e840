import { z } from 'zod';
import { type Sql, raw, sql } from '../../lib/db';
import { normalizePhone, phoneHash } from '../contacts/phone';

/** Who a GDPR webhook is about: Shopify's customer id, email and phone, any of which may be missing. */
export interface CustomerRef {
  shopifyCustomerId: string | null;
  email: string | null;
  phone: string | null;
}

export const customerRefSchema = z
  .object({
    id: z.union([z.number(), z.string()]).nullable().optional(),
    email: z.string().max(1000).nullable().optional(),
    phone: z.string().max(64).nullable().optional(),
  })
  .transform((c): CustomerRef => ({
    shopifyCustomerId: c.id === null || c.id === undefined ? null : String(c.id),
    email: c.email?.trim() ? c.email.trim() : null,
    phone: c.phone?.trim() ? c.phone.trim() : null,
  }));

export function e164OfRef(ref: CustomerRef): string | null {
  return ref.phone ? normalizePhone(ref.phone) : null;
}

function phoneHashOfRef(ref: CustomerRef): string | null {
  const e164 = e164OfRef(ref);
  return e164 ? phoneHash(e164) : null;
}

/**
 * The phone hashes that are this customer's, for rows keyed by number alone
 * (inbound texts, keyword replies, checkouts): its contacts' and the one of
 * the phone Shopify names, since such rows exist for a number the shop holds
 * no contact for. The data request and the redact read the same set, so an
 * export shows whatever the erasure takes.
 */
export function customerPhoneHashes(ref: CustomerRef, contactHashes: string[]): string[] {
  return [...new Set([phoneHashOfRef(ref), ...contactHashes].filter((h): h is string => typeof h === 'string' && h.length > 0))];
}

/** Contacts of the shop that are this customer: by Shopify id, phone hash or email (over-matching is the safe side). */
export function matchesCustomer(ref: CustomerRef, alias = 'c'): Sql {
  const hash = phoneHashOfRef(ref);
  const col = (name: string): Sql => raw(`${alias}.${name}`);
  return sql`(
    (${ref.shopifyCustomerId}::text IS NOT NULL AND ${col('shopify_customer_id')} = ${ref.shopifyCustomerId}::text)
    OR (${hash}::text IS NOT NULL AND ${col('phone_hash')} = ${hash}::text)
    OR (${ref.email}::text IS NOT NULL AND lower(${col('email')}) = lower(${ref.email}::text)))`;
}
