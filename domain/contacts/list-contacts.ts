import { z } from 'zod';
import { type Sql, join, sql, type DbOrTx } from '../../lib/db';
import { decodeCursor, pageOf } from '../../lib/cursor';
import { consentField, text } from './contact-input';
import { toContactView, type ContactRow, type ContactView } from './contact-view';

export const listContactsQuerySchema = z
  .object({
    limit: z.string().regex(/^[0-9]{1,4}$/, 'must be an integer').transform(Number).pipe(z.number().int().min(1).max(200)).optional(),
    cursor: z.string().max(200).optional(),
    consent: consentField.optional(),
    tag: text(64).transform((t) => t.toLowerCase()).optional(),
    q: text(100).optional(),
  })
  .strict();

export type ListContactsQuery = z.output<typeof listContactsQuerySchema>;

const escapeLike = (s: string): string => s.replace(/[\\%_]/g, (m) => `\\${m}`);

/**
 * Newest first, keyset-paginated on (created_at, id) through
 * contacts_shop_id_created_at_id_idx; `tag` uses the GIN index; `q` is a
 * case-insensitive prefix of the phone, email, first or last name. Erased
 * tombstones are never listed.
 */
export async function listContacts(db: DbOrTx, shopId: string, query: ListContactsQuery): Promise<{ data: ContactView[]; nextCursor: string | null }> {
  const limit = query.limit ?? 50;
  const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  const where: Sql[] = [sql`shop_id = ${shopId}::uuid`, sql`erased_at IS NULL`];
  if (cursor) where.push(sql`(created_at, id) < (${cursor.createdAt}::timestamptz, ${cursor.id}::uuid)`);
  if (query.consent) where.push(sql`sms_consent = ${query.consent}`);
  if (query.tag) where.push(sql`tags @> ARRAY[${query.tag}]::text[]`);
  if (query.q) {
    const prefix = `${escapeLike(query.q.toLowerCase())}%`;
    const digits = query.q.replace(/[\s().-]/g, '');
    const phonePrefix = /^\+?[0-9]+$/.test(digits) ? `+${digits.replace(/^\+/, '')}%` : null;
    where.push(sql`(lower(email) LIKE ${prefix} OR lower(first_name) LIKE ${prefix} OR lower(last_name) LIKE ${prefix}
                          OR (${phonePrefix}::text IS NOT NULL AND phone_e164 LIKE ${phonePrefix}::text))`);
  }
  const rows = await db.$queryRaw<ContactRow[]>`
    SELECT id, phone_e164, email, first_name, last_name, sms_consent, tags, timezone, opted_out_at, opt_out_source, created_at, updated_at
      FROM contacts
     WHERE ${join(where, ' AND ')}
     ORDER BY created_at DESC, id DESC
     LIMIT ${limit + 1}`;
  return pageOf(rows, limit, toContactView);
}
