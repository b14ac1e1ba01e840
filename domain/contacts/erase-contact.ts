import type { DbOrTx } from '../../lib/db';
import { notFound } from '../../lib/errors';

/**
 * DELETE /api/contacts/:id: the PII goes (phone, email, names, tags, Shopify
 * link), the row stays as an opaque tombstone keyed by the phone hash so its
 * opt-out survives a later re-import of the number. Consent given before the
 * erasure does not: a returning number starts `pending` again.
 */
export async function eraseContact(db: DbOrTx, shopId: string, id: string): Promise<void> {
  const n = await db.$executeRaw`
    UPDATE contacts
       SET phone_e164 = NULL, email = NULL, first_name = NULL, last_name = NULL, tags = '{}',
           shopify_customer_id = NULL, shopify_updated_at = NULL,
           sms_consent = CASE WHEN opted_out_at IS NULL THEN 'pending' ELSE 'unsubscribed' END,
           erased_at = now(), updated_at = now()
     WHERE id = ${id}::uuid AND shop_id = ${shopId}::uuid AND erased_at IS NULL`;
  if (n === 0) throw notFound('Contact');
}
