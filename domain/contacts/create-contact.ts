import type { DbOrTx } from '../../lib/db';
import { UNGUARDED, type IdempotencyGuard } from '../idempotency/guard';
import { withApiConsentSource } from '../consent/consent-source';
import type { ContactCreateInput } from './contact-input';
import { toContactView, type ContactView } from './contact-view';
import { lockBuyerPhones } from '../orders/buyer-phone-lock';
import { linkEarlierPurchases } from './link-earlier-purchases';
import { upsertContacts } from './upsert-contacts';

/**
 * POST /api/contacts: upsert by (shop, E.164 phone); `created` tells 201 from 200.
 * A created contact links the earlier orders and checkouts of its number
 * (link-earlier-purchases.ts).
 * With a key, the write happens only while this request still holds it.
 */
export async function createContact(db: DbOrTx, shopId: string, input: ContactCreateInput, guard: IdempotencyGuard = UNGUARDED): Promise<{ contact: ContactView; created: boolean }> {
  const [row] = await withApiConsentSource(db, async (tx) => {
    await guard.assertHeld(tx);
    // Before the contact row, as orders/create and checkouts/* take it for a buyer of no customer: an order or a
    // checkout of this number stored meanwhile is linked by one of the two (link-earlier-purchases.ts).
    await lockBuyerPhones(tx, shopId, [input.phoneHash]);
    const rows = await upsertContacts(tx, shopId, [input], 'api');
    // A new contact (or an erased one back, which holds no customer id) links the orders and open checkouts its
    // number alone names, as a customers/* webhook bringing it would; the outbox dispatcher publishes their triggers.
    await linkEarlierPurchases(tx, { shopId, contactIds: rows.filter((r) => r.created).map((r) => r.id), traceId: null });
    return rows;
  });
  if (!row) throw new Error('upsert returned no row');
  return { contact: toContactView(row), created: row.created };
}
