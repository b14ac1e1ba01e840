import { type Sql, empty, raw, sql } from '../../lib/db';

/**
 * The sendable audience of a shop as a WHERE fragment over `contacts` aliased
 * `alias`: subscribed, not opted out, not erased, with a phone, and, when the
 * campaign names tags, carrying at least one of them. The predicate mirrors the
 * partial index contacts_audience_idx so the planner can use it.
 */
export function audienceWhere(alias: string, shopId: string, tags: string[]): Sql {
  const a = raw(`"${alias.replace(/"/g, '')}"`);
  const tagFilter = tags.length === 0 ? empty : sql`AND ${a}.tags && ${tags}::text[]`;
  return sql`${a}.shop_id = ${shopId}::uuid AND ${a}.sms_consent = 'subscribed' AND ${a}.opted_out_at IS NULL
    AND ${a}.erased_at IS NULL AND ${a}.phone_e164 IS NOT NULL ${tagFilter}`;
}

/** True when a contact (aliased `alias`) may still receive messages: used again at send time. */
export function sendableSql(alias: string): Sql {
  const a = raw(`"${alias.replace(/"/g, '')}"`);
  return sql`(${a}.sms_consent = 'subscribed' AND ${a}.opted_out_at IS NULL AND ${a}.erased_at IS NULL AND ${a}.phone_e164 IS NOT NULL)`;
}
