import type { DbOrTx } from '../../lib/db';
import { notFound } from '../../lib/errors';
import { toContactView, type ContactRow, type ContactView } from './contact-view';

/** A live contact of this shop; another shop's id, an erased one or an unknown one are all NOT_FOUND. */
export async function getContact(db: DbOrTx, shopId: string, id: string): Promise<ContactView> {
  const [row] = await db.$queryRaw<ContactRow[]>`
    SELECT id, phone_e164, email, first_name, last_name, sms_consent, tags, timezone, opted_out_at, opt_out_source, created_at, updated_at
      FROM contacts WHERE id = ${id}::uuid AND shop_id = ${shopId}::uuid AND erased_at IS NULL`;
  if (!row) throw notFound('Contact');
  return toContactView(row);
}
