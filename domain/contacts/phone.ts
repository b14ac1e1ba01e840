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
 * `0044 20 7946 0958`) → E.164, or null when it is not a valid number by the
 * full metadata (right length is not enough).
 */
export function normalizePhone(raw: string, country?: CountryCode): string | null {
  const trimmed = raw.trim();
  if (!PHONE_CHARS.test(trimmed)) return null;
  const compact = trimmed.replace(/[\s().\-/]/g, '');
  // "00" is the international prefix almost everywhere; libphonenumber only
  // reads it when the caller's country uses it, so rewrite it to "+".
  const international = compact.startsWith('00') ? `+${compact.slice(2)}` : trimmed;
  const parsed = parsePhoneNumberFromString(international, country ? { defaultCountry: country } : undefined);
  if (!parsed?.isValid() || parsed.ext) return null;
  return parsed.number;
}
