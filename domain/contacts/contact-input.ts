import { z } from 'zod';
import type { CountryCode } from 'libphonenumber-js/max';
import { isStorableText } from '../../lib/storable-text';
import { canonicalTimeZone } from '../compliance/quiet-hours';
import { isPhoneCountry, normalizePhone, phoneHash } from './phone';

// One set of rules for a contact, shared by the API (POST/PATCH) and the
// import job, so a row that the API rejects is rejected by an import too.

export const CONSENTS = ['subscribed', 'unsubscribed', 'pending'] as const;
export type Consent = (typeof CONSENTS)[number];

export const MAX_TAGS = 50;

/**
 * The most characters each field's rules below accept before trimming
 * (`text(n)` takes 4n): an import stages nothing longer, since a longer value
 * could only be rejected.
 */
export const RAW_MAX = { phone: 64, country: 8, email: 1000, name: 400, consent: 12, tag: 256, timezone: 64 } as const;

// C0, DEL and C1 controls: never meaningful in a name or an address, and a
// NUL cannot be stored in Postgres text at all.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// An unpaired UTF-16 surrogate is valid JSON but not text Postgres can store (a 500 at the insert, for the whole import).
const noControl = (s: string): boolean => !CONTROL.test(s) && isStorableText(s);

/** Trimmed, 1–max characters, no control characters (the raw input is bounded before trimming). */
export const text = (max: number) =>
  z.string().max(max * 4).refine(noControl, 'must not contain control characters or unpaired surrogates').transform((s) => s.trim()).pipe(z.string().min(1).max(max));

export const nameField = text(100);
export const emailField = z.string().max(RAW_MAX.email).refine(noControl, 'must not contain control characters or unpaired surrogates').transform((s) => s.trim()).pipe(z.email().max(254));
export const consentField = z.enum(CONSENTS);
export const countryField = z
  .string()
  .max(RAW_MAX.country)
  .transform((s) => s.trim().toUpperCase())
  .refine(isPhoneCountry, 'must be an ISO-3166 alpha-2 country code')
  .transform((s) => s as CountryCode);

/**
 * The contact's IANA time zone, canonicalised (`america/new_york` →
 * `America/New_York`): quiet hours then apply in it (else the send path
 * infers one from the phone number).
 */
export const timezoneField = z
  .string()
  .max(RAW_MAX.timezone)
  .transform((tz, ctx) => {
    const canonical = canonicalTimeZone(tz.trim());
    if (!canonical) {
      ctx.addIssue({ code: 'custom', message: 'not an IANA time zone name (e.g. "America/New_York")' });
      return z.NEVER;
    }
    return canonical;
  });

export const tagField = text(64).transform((s) => s.toLowerCase());
/** Tags: trimmed, lowercased and deduplicated, in first-seen order. */
export const tagsField = z.array(tagField).max(MAX_TAGS).transform((tags) => [...new Set(tags)]);

const phoneRaw = z.string().max(RAW_MAX.phone).refine(noControl, 'must not contain control characters or unpaired surrogates');

export interface NormalizedPhone {
  phoneE164: string;
  phoneHash: string;
}

function withPhone<T extends { phone: string; country?: CountryCode }>(v: T, ctx: z.RefinementCtx, defaultCountry?: CountryCode): (Omit<T, 'phone' | 'country'> & NormalizedPhone) | typeof z.NEVER {
  const e164 = normalizePhone(v.phone, v.country ?? defaultCountry);
  if (!e164) {
    ctx.addIssue({ code: 'custom', path: ['phone'], message: 'not a valid phone number (give it in international format or pass country)' });
    return z.NEVER;
  }
  const { phone: _phone, country: _country, ...rest } = v;
  return { ...rest, phoneE164: e164, phoneHash: phoneHash(e164) };
}

const createShape = {
  phone: phoneRaw,
  country: countryField.optional(),
  email: emailField.optional(),
  firstName: nameField.optional(),
  lastName: nameField.optional(),
  smsConsent: consentField.optional(),
  tags: tagsField.optional(),
  timezone: timezoneField.optional(),
};

/** The fields a contact row may have (an import row with any other field is rejected). */
export const CONTACT_FIELDS = Object.keys(createShape) as (keyof typeof createShape)[];

/** POST /api/contacts and each import row: phone normalised to E.164 (defaultCountry when the row has none). */
export const contactCreateSchema = (defaultCountry?: CountryCode) =>
  z
    .object(createShape)
    .strict()
    .transform((v, ctx) => withPhone(v, ctx, defaultCountry));

export type ContactCreateInput = z.output<ReturnType<typeof contactCreateSchema>>;

/** PATCH /api/contacts/:id: every field optional; null clears email and names. */
export const contactPatchSchema = z
  .object({
    phone: phoneRaw.optional(),
    country: countryField.optional(),
    email: emailField.nullable().optional(),
    firstName: nameField.nullable().optional(),
    lastName: nameField.nullable().optional(),
    smsConsent: consentField.optional(),
    tags: tagsField.optional(),
    timezone: timezoneField.nullable().optional(),
  })
  .strict()
  .transform((v, ctx) => {
    if (v.phone === undefined) {
      if (v.country !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['country'], message: 'country is only meaningful together with phone' });
        return z.NEVER;
      }
      const { phone: _phone, country: _country, ...rest } = v;
      return { ...rest, phoneE164: undefined, phoneHash: undefined };
    }
    return withPhone({ ...v, phone: v.phone }, ctx);
  });

export type ContactPatchInput = z.output<typeof contactPatchSchema>;
