import { sql, type DbOrTx, type Tx } from '../../lib/db';
import { UNGUARDED, type IdempotencyGuard } from '../idempotency/guard';
import { withApiConsentSource } from '../consent/consent-source';
import { AppError, notFound } from '../../lib/errors';
import { isUniqueViolation } from '../../lib/pg-errors';
import type { ContactPatchInput } from './contact-input';
import { toContactView, type ContactRow, type ContactView } from './contact-view';
import { lockBuyerPhones } from '../orders/buyer-phone-lock';
import { lockShopifyCustomer } from '../orders/customer-lock';
import { linkEarlierPurchases } from './link-earlier-purchases';
import { takeErasedNumber, type CarriedOptOut } from './take-erased-number';

/**
 * PATCH /api/contacts/:id: given fields replace (null clears email/names,
 * tags are replaced as a whole). Consent: `unsubscribed` records an opt-out
 * (source `api`; it takes over a `shopify` one, so that Shopify cannot lift
 * what the merchant decided); `subscribed` lifts any opt-out but a keyword
 * one (the merchant's explicit decision); `pending` applies only to a contact
 * that is not opted out. Refused with 409 INVALID_STATE: re-subscribing a
 * keyword (STOP) opt-out, which only the person can undo by texting START,
 * and changing the number of an opted-out contact (the opt-out belongs to
 * the number). Moving onto an erased contact's number takes that number's
 * surviving opt-out along (takeErasedNumber). A move links the earlier
 * orders and checkouts of the new number (link-earlier-purchases.ts).
 */
export async function updateContact(db: DbOrTx, shopId: string, id: string, patch: ContactPatchInput, guard: IdempotencyGuard = UNGUARDED): Promise<ContactView> {
  const consent = patch.smsConsent ?? null;
  const newHash = patch.phoneHash ?? null;
  try {
    return await withApiConsentSource(db, async (tx) => {
      await guard.assertHeld(tx);
      // A move to a number: the locks a customers/* webhook moving a contact takes, in its order, before any
      // contact row (the customer's, then the number's), so an order or checkout of the number stored meanwhile is
      // linked by one of the two (link-earlier-purchases.ts).
      if (newHash) {
        const [held] = await tx.$queryRaw<{ shopify_customer_id: string | null }[]>`
          SELECT shopify_customer_id FROM contacts WHERE id = ${id}::uuid AND shop_id = ${shopId}::uuid AND erased_at IS NULL`;
        if (held?.shopify_customer_id) await lockShopifyCustomer(tx, shopId, held.shopify_customer_id);
        await lockBuyerPhones(tx, shopId, [newHash]);
      }
      const carried = newHash ? await takeErasedNumber(tx, shopId, id, newHash) : null;
      // The contact as the move leaves it: a carried opt-out is the number's from now on.
      const optedOutAt = sql`COALESCE(${carried?.optedOutAt ?? null}::timestamptz, opted_out_at)`;
      const optOutSource = sql`COALESCE(${carried?.source ?? null}::text, opt_out_source)`;
      const smsConsent = sql`CASE WHEN ${carried !== null}::boolean THEN 'unsubscribed' ELSE sms_consent END`;
      const [row] = await tx.$queryRaw<ContactRow[]>`
      UPDATE contacts SET
        phone_e164 = COALESCE(${patch.phoneE164 ?? null}::text, phone_e164),
        phone_hash = COALESCE(${newHash}::text, phone_hash),
        email = CASE WHEN ${patch.email !== undefined}::boolean THEN ${patch.email ?? null}::text ELSE email END,
        first_name = CASE WHEN ${patch.firstName !== undefined}::boolean THEN ${patch.firstName ?? null}::text ELSE first_name END,
        last_name = CASE WHEN ${patch.lastName !== undefined}::boolean THEN ${patch.lastName ?? null}::text ELSE last_name END,
        tags = CASE WHEN ${patch.tags !== undefined}::boolean THEN ${patch.tags ?? []}::text[] ELSE tags END,
        timezone = CASE WHEN ${patch.timezone !== undefined}::boolean THEN ${patch.timezone ?? null}::text ELSE timezone END,
        sms_consent = CASE
          WHEN ${consent}::text IS NULL THEN ${smsConsent}
          WHEN ${consent}::text = 'pending' AND ${optedOutAt} IS NOT NULL THEN ${smsConsent}
          ELSE ${consent}::text END,
        opted_out_at = CASE ${consent}::text
          WHEN 'unsubscribed' THEN COALESCE(${optedOutAt}, now())
          WHEN 'subscribed' THEN NULL
          ELSE ${optedOutAt} END,
        -- The merchant's opt-out replaces Shopify's as the recorded one (keeping
        -- its time), as a STOP does: else a later Shopify SUBSCRIBED lifts it.
        opt_out_source = CASE ${consent}::text
          WHEN 'unsubscribed' THEN CASE WHEN ${optOutSource} IS NULL OR ${optOutSource} = 'shopify' THEN 'api' ELSE ${optOutSource} END
          WHEN 'subscribed' THEN NULL
          ELSE ${optOutSource} END,
        updated_at = now()
      WHERE id = ${id}::uuid AND shop_id = ${shopId}::uuid AND erased_at IS NULL
        AND NOT (${consent}::text = 'subscribed' AND ${optedOutAt} IS NOT NULL AND ${optOutSource} = 'keyword')
        AND NOT (${newHash}::text IS NOT NULL AND ${newHash}::text <> phone_hash AND opted_out_at IS NOT NULL)
      RETURNING id, phone_e164, email, first_name, last_name, sms_consent, tags, timezone, opted_out_at, opt_out_source, created_at, updated_at`;
      if (row) {
        // The orders and open checkouts stored before the contact held this number that it alone names now.
        if (newHash) await linkEarlierPurchases(tx, { shopId, contactIds: [row.id], traceId: null });
        return toContactView(row);
      }
      // Thrown inside the transaction: a number taken from a tombstone goes back to it.
      throw await refusal(tx, shopId, id, consent, carried);
    });
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new AppError('VALIDATION_FAILED', 'Another contact already has this phone number', { details: [{ path: 'phone', message: 'another contact already has this phone number' }] });
    }
    throw err;
  }
}

/** Why the PATCH changed nothing: no such contact, a keyword opt-out to lift, or an opted-out contact to move. */
async function refusal(tx: Tx, shopId: string, id: string, consent: string | null, carried: CarriedOptOut | null): Promise<AppError> {
  const [current] = await tx.$queryRaw<{ opt_out_source: string | null }[]>`
    SELECT opt_out_source FROM contacts WHERE id = ${id}::uuid AND shop_id = ${shopId}::uuid AND erased_at IS NULL`;
  if (!current) return notFound('Contact');
  const source = carried?.source ?? current.opt_out_source;
  if (consent === 'subscribed' && source === 'keyword') {
    return new AppError('INVALID_STATE', 'The person opted out by texting STOP; only they can opt back in (by texting START)', {
      details: { optOutSource: 'keyword' },
    });
  }
  return new AppError('INVALID_STATE', 'An opted-out contact keeps its number: the opt-out belongs to it', {
    details: { optOutSource: current.opt_out_source },
  });
}
