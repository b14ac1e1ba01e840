import { sql, type Sql } from '../../lib/db';

/**
 * SQL: the contact `contactId` has a consent decision made here (any source
 * but `shopify`: the merchant, the API, an import, a keyword) collected at
 * or after `at`. Shopify's consent of that time is then older news than what
 * the contact holds (often the echo of our own write-back, or a delivery
 * that arrived late) and must not overwrite it. Consent records are the
 * clock: every local change writes one, in the statement that makes it.
 */
export function decidedHereSince(contactId: Sql, at: Sql): Sql {
  return sql`EXISTS (
    SELECT 1 FROM contact_consent_records r
     WHERE r.contact_id = ${contactId} AND r.source <> 'shopify' AND r.collected_at >= ${at})`;
}
