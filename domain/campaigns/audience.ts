import { type Sql, empty, join, raw, sql } from '../../lib/db';

/** Order-summary ranges of an audience (campaign-input.ts audienceSchema); every bound inclusive. */
export interface OrderFilters {
  ordersCount?: { min?: number; max?: number };
  /** Minor units of the shop's currency (contacts.amount_spent_minor). */
  amountSpent?: { min?: number; max?: number };
  /** ISO 8601 instants; a contact with no order is outside any range. */
  lastOrderAt?: { from?: string; to?: string };
}

const bound = (v: unknown): number | undefined => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : undefined);
/** An instant Postgres takes as an ISO string: years 1 to 9999 in UTC (year 0 and six-digit years are refused). */
export const isStorableInstant = (ms: number): boolean => Number.isFinite(ms) && new Date(ms).getUTCFullYear() >= 1 && new Date(ms).getUTCFullYear() <= 9999;
const instant = (v: unknown): string | undefined => (typeof v === 'string' && isStorableInstant(Date.parse(v)) ? new Date(Date.parse(v)).toISOString() : undefined);
const objectOf = (v: unknown): Record<string, unknown> | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

/**
 * The order filters of a stored audience document, or null when it has none.
 * Documents are validated when written; reading is still defensive (a bound
 * that is not a usable value is no bound), and every reader — estimate,
 * preview, enqueue, launch — goes through here and audienceWhere.
 */
export function orderFiltersOf(audience: unknown): OrderFilters | null {
  const a = objectOf(audience);
  if (!a) return null;
  const f: OrderFilters = {};
  const count = objectOf(a.ordersCount);
  if (count && (bound(count.min) !== undefined || bound(count.max) !== undefined)) f.ordersCount = { min: bound(count.min), max: bound(count.max) };
  const spent = objectOf(a.amountSpent);
  if (spent && (bound(spent.min) !== undefined || bound(spent.max) !== undefined)) f.amountSpent = { min: bound(spent.min), max: bound(spent.max) };
  const last = objectOf(a.lastOrderAt);
  if (last && (instant(last.from) !== undefined || instant(last.to) !== undefined)) f.lastOrderAt = { from: instant(last.from), to: instant(last.to) };
  return f.ordersCount || f.amountSpent || f.lastOrderAt ? f : null;
}

function orderFilterSql(a: Sql, f: OrderFilters | null): Sql {
  if (!f) return empty;
  const parts: Sql[] = [];
  if (f.ordersCount?.min !== undefined) parts.push(sql`${a}.orders_count >= ${f.ordersCount.min}::int`);
  if (f.ordersCount?.max !== undefined) parts.push(sql`${a}.orders_count <= ${f.ordersCount.max}::int`);
  if (f.amountSpent?.min !== undefined) parts.push(sql`${a}.amount_spent_minor >= ${f.amountSpent.min}::bigint`);
  if (f.amountSpent?.max !== undefined) parts.push(sql`${a}.amount_spent_minor <= ${f.amountSpent.max}::bigint`);
  if (f.lastOrderAt?.from !== undefined) parts.push(sql`${a}.last_order_at >= ${f.lastOrderAt.from}::timestamptz`);
  if (f.lastOrderAt?.to !== undefined) parts.push(sql`${a}.last_order_at <= ${f.lastOrderAt.to}::timestamptz`);
  return parts.length === 0 ? empty : sql`AND ${join(parts, ' AND ')}`;
}

/**
 * THE sendable audience of a shop as a WHERE fragment over `contacts` aliased
 * `alias`: subscribed, not opted out, not erased, with a phone; when the
 * campaign names tags, carrying at least one of them; when it has order
 * filters, inside every range. Launch selects with it and every estimate
 * (preview, enqueue, a scheduled campaign's edit) counts with it, so they
 * cannot disagree. The predicate mirrors the partial indexes
 * contacts_audience_idx and contacts_order_summary_idx.
 */
export function audienceWhere(alias: string, shopId: string, tags: string[], orders: OrderFilters | null): Sql {
  const a = raw(`"${alias.replace(/"/g, '')}"`);
  const tagFilter = tags.length === 0 ? empty : sql`AND ${a}.tags && ${tags}::text[]`;
  return sql`${a}.shop_id = ${shopId}::uuid AND ${a}.sms_consent = 'subscribed' AND ${a}.opted_out_at IS NULL
    AND ${a}.erased_at IS NULL AND ${a}.phone_e164 IS NOT NULL ${tagFilter} ${orderFilterSql(a, orders)}`;
}

/** True when a contact (aliased `alias`) may still receive messages: used again at send time. */
export function sendableSql(alias: string): Sql {
  const a = raw(`"${alias.replace(/"/g, '')}"`);
  return sql`(${a}.sms_consent = 'subscribed' AND ${a}.opted_out_at IS NULL AND ${a}.erased_at IS NULL AND ${a}.phone_e164 IS NOT NULL)`;
}
