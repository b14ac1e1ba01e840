import type { Audience, Range } from './api/types';
import { num } from './format';
import { utcToZoned, zonedToUtc } from './zoned-time';

// The composer's audience fields ⇄ the api's audience document (docs/api.md,
// "Order filters"). Amounts are typed in the shop's currency and sent in
// minor units; last-order dates are whole days in the shop's timezone, sent
// as the instants that bound them. A bound loaded from the api and left as
// it was is sent back exactly as it came (one set through the api at 14:30
// stays 14:30).

/** The api stores amounts in minor units; the shop's currency is not known to the api yet, so cents (2 digits). */
const MINOR_DIGITS = 2;
const SCALE = 10 ** MINOR_DIGITS;

export interface AudienceFields {
  tags: string;
  minOrders: string;
  maxOrders: string;
  minSpent: string;
  maxSpent: string;
  lastFrom: string;
  lastTo: string;
}

export type AudienceField = keyof AudienceFields;

export const EMPTY_AUDIENCE_FIELDS: AudienceFields = { tags: '', minOrders: '', maxOrders: '', minSpent: '', maxSpent: '', lastFrom: '', lastTo: '' };

export function tagsOf(s: string): string[] {
  return [...new Set(s.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean))];
}

const majorOf = (minor: number | undefined): string => (minor === undefined ? '' : (minor / SCALE).toFixed(MINOR_DIGITS));

/** "49.99" → 4999; null when not an amount. */
export function minorOf(text: string): number | null {
  const m = new RegExp(`^(\\d{1,13})(?:[.,](\\d{1,${MINOR_DIGITS}}))?$`).exec(text.trim());
  if (!m) return null;
  return Number(m[1]) * SCALE + Number((m[2] ?? '').padEnd(MINOR_DIGITS, '0'));
}

/** The fields showing an audience the api answered, in the shop's timezone. */
export function fieldsOf(a: Audience, timeZone: string): AudienceFields {
  const day = (iso: string | undefined) => (iso ? utcToZoned(iso, timeZone).date : '');
  return {
    tags: (a.tags ?? []).join(', '),
    minOrders: a.ordersCount?.min !== undefined ? String(a.ordersCount.min) : '',
    maxOrders: a.ordersCount?.max !== undefined ? String(a.ordersCount.max) : '',
    minSpent: majorOf(a.amountSpent?.min),
    maxSpent: majorOf(a.amountSpent?.max),
    lastFrom: day(a.lastOrderAt?.from),
    lastTo: day(a.lastOrderAt?.to),
  };
}

/**
 * The audience to send and the fields the browser already knows are wrong
 * (a bound that is not a number, min above max): a wrong bound is left out
 * of the audience and shown on its field, so the estimate stays live.
 */
export function audienceOf(f: AudienceFields, loaded: Audience, timeZone: string): { audience: Audience; errors: Partial<Record<AudienceField, string>> } {
  const errors: Partial<Record<AudienceField, string>> = {};
  const a: Audience = {};
  const tags = tagsOf(f.tags);
  // `tags: []` is refused by the api (it would read as "everyone"): no tags is an audience without the field.
  if (tags.length) a.tags = tags;

  const count = (field: AudienceField, text: string): number | undefined => {
    if (text.trim() === '') return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0 || n > 1_000_000_000) {
      errors[field] = 'Enter a whole number of orders';
      return undefined;
    }
    return n;
  };
  const amount = (field: AudienceField, text: string): number | undefined => {
    if (text.trim() === '') return undefined;
    const m = minorOf(text);
    if (m === null) errors[field] = 'Enter an amount such as 50 or 49.99';
    return m ?? undefined;
  };
  const range = (min: number | undefined, max: number | undefined, maxField: AudienceField): Range | undefined => {
    if (min !== undefined && max !== undefined && min > max) {
      errors[maxField] = 'Must not be less than the minimum';
      return { min };
    }
    return min === undefined && max === undefined ? undefined : { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) };
  };

  const orders = range(count('minOrders', f.minOrders), count('maxOrders', f.maxOrders), 'maxOrders');
  if (orders) a.ordersCount = orders;
  const spent = range(amount('minSpent', f.minSpent), amount('maxSpent', f.maxSpent), 'maxSpent');
  if (spent) a.amountSpent = spent;

  const loadedDays = fieldsOf(loaded, timeZone);
  const from = f.lastFrom === '' ? undefined : f.lastFrom === loadedDays.lastFrom ? loaded.lastOrderAt?.from : zonedToUtc(f.lastFrom, '00:00', timeZone)?.toISOString();
  const endOfDay = (d: string) => {
    const t = zonedToUtc(d, '23:59', timeZone);
    return t ? new Date(t.getTime() + 59_999).toISOString() : undefined;
  };
  const to = f.lastTo === '' ? undefined : f.lastTo === loadedDays.lastTo ? loaded.lastOrderAt?.to : endOfDay(f.lastTo);
  if (f.lastFrom !== '' && !from) errors.lastFrom = 'Enter a date';
  if (f.lastTo !== '' && !to) errors.lastTo = 'Enter a date';
  if (from && to && from > to) {
    errors.lastTo = 'Must not be before the first day';
    a.lastOrderAt = { from };
  } else if (from || to) a.lastOrderAt = { ...(from ? { from } : {}), ...(to ? { to } : {}) };
  return { audience: a, errors };
}

/** The audience in words, for the campaign page. */
export function describeAudience(a: Audience, timeZone?: string): string {
  const parts: string[] = [a.tags?.length ? `subscribers tagged ${a.tags.join(', ')}` : 'all subscribers'];
  const between = (r: Range, fmt: (n: number) => string) =>
    r.min !== undefined && r.max !== undefined ? `${fmt(r.min)}–${fmt(r.max)}` : r.min !== undefined ? `at least ${fmt(r.min)}` : `at most ${fmt(r.max!)}`;
  if (a.ordersCount) parts.push(`${between(a.ordersCount, num)} orders`);
  if (a.amountSpent) parts.push(`spent ${between(a.amountSpent, (m) => majorOf(m))}`);
  if (a.lastOrderAt) {
    const day = (iso: string) => new Date(iso).toLocaleDateString('en-US', { dateStyle: 'medium', timeZone });
    const { from, to } = a.lastOrderAt;
    parts.push(from && to ? `last order ${day(from)} – ${day(to)}` : from ? `last order on or after ${day(from)}` : `last order on or before ${day(to!)}`);
  }
  return parts.join('; ');
}
