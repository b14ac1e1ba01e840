import { createHash } from 'node:crypto';
import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

/**
 * The key a contact is stored under: sha256 hex of its E.164 number. It
 * survives erasure, so an erased number that comes back keeps its opt-out.
 */
export const phoneHash = (e164: string): string => createHash('sha256').update(e164).digest('hex');

/** ISO-3166 alpha-2 codes that libphonenumber has metadata for. */
export function isPhoneCountry(code: string): code is CountryCode {
  return /^[A-Z]{2}$/.test(code) && isSupportedCountry(code);
}

// Digits and the punctuation people write numbers with; letters (vanity
// numbers, "ext") and anything else are not a number we can text.
const PHONE_CHARS = /^\+?[0-9\s().\-/]{3,40}$/;

/**
 * A number as typed (`(201) 555-0123` with country US, `+44 20 7946 0958`,
 * `0044 20 7946 0958`, `0011 44 20 7946 0958` with country AU) → E.164, or
 * null when it is not a valid number by the full metadata (right length is
 * not enough).
 */
export function normalizePhone(raw: string, country?: CountryCode): string | null {
  const trimmed = raw.trim();
  if (!PHONE_CHARS.test(trimmed)) return null;
  const options = country ? { defaultCountry: country } : undefined;
  // As typed first: libphonenumber reads the country's own international
  // prefix (AU 0011, SG 001, TW 002, US 011), which a blanket "00" → "+"
  // rewrite would turn into a wrong country code ("0011 44 …" → "+11 44 …").
  const asTyped = valid(trimmed, options);
  if (asTyped) return asTyped;
  // "00" is the international prefix almost everywhere, but libphonenumber
  // only reads it when the given country uses it.
  const compact = trimmed.replace(/[\s().\-/]/g, '');
  return compact.startsWith('00') ? valid(`+${compact.slice(2)}`, options) : null;
}

function valid(text: string, options: { defaultCountry: CountryCode } | undefined): string | null {
  const parsed = parsePhoneNumberFromString(text, options);
  return parsed?.isValid() && !parsed.ext ? parsed.number : null;
}
