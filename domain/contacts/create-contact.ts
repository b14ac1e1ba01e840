import type { DbOrTx } from '../../lib/db';
import { UNGUARDED, type IdempotencyGuard } from '../idempotency/guard';
import { withApiConsentSource } from '../consent/consent-source';
import type { ContactCreateInput } from './contact-input';
import { toContactView, type ContactView } from './contact-view';
import { upsertContacts } from './upsert-contacts';

/**
 * POST /api/contacts: upsert by (shop, E.164 phone); `created` tells 201 from 200.
 * With a key, the write happens only while this request still holds it.
 */
export async function createContact(db: DbOrTx, shopId: string, input: ContactCreateInput, guard: IdempotencyGuard = UNGUARDED): Promise<{ contact: ContactView; created: boolean }> {
  const [row] = await withApiConsentSource(db, async (tx) => {
    await guard.assertHeld(tx);
    return upsertContacts(tx, shopId, [input], 'api');
  });
  if (!row) throw new Error('upsert returned no row');
  return { contact: toContactView(row), created: row.created };
}
