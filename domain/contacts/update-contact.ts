import type { DbOrTx } from '../../lib/db';
import { UNGUARDED, type IdempotencyGuard } from '../idempotency/guard';
import { withApiConsentSource } from '../consent/consent-source';
import { AppError, notFound } from '../../lib/errors';
import { isUniqueViolation } from '../../lib/pg-errors';
import type { ContactPatchInput } from './contact-input';
import { toContactView, type ContactRow, type ContactView } from './contact-view';

/**
 * PATCH /api/contacts/:id: given fields replace (null clears email/names,
 * tags are replaced as a whole). Consent: `unsubscribed` records an opt-out;
 * `subscribed` lifts a merchant/API/import opt-out; `pending` applies only to
 * a contact that is not opted out. Refused with 409 INVALID_STATE:
 * re-subscribing a keyword (STOP) opt-out, which only the person can undo by
 * texting START, and changing the number of an opted-out contact (the opt-out
 * belongs to the number).
 */
export async function updateContact(db: DbOrTx, shopId: string, id: string, patch: ContactPatchInput, guard: IdempotencyGuard = UNGUARDED): Promise<ContactView> {
  const consent = patch.smsConsent ?? null;
  const newHash = patch.phoneHash ?? null;
  let rows: ContactRow[];
  try {
    rows = await withApiConsentSource(db, async (tx) => {
      await guard.assertHeld(tx);
      return tx.$queryRaw<ContactRow[]>`
      UPDATE contacts SET
        phone_e164 = COALESCE(${patch.phoneE164 ?? null}::text, phone_e164),
        phone_hash = COALESCE(${newHash}::text, phone_hash),
        email = CASE WHEN ${patch.email !== undefined}::boolean THEN ${patch.email ?? null}::text ELSE email END,
        first_name = CASE WHEN ${patch.firstName !== undefined}::boolean THEN ${patch.firstName ?? null}::text ELSE first_name END,
        last_name = CASE WHEN ${patch.lastName !== undefined}::boolean THEN ${patch.lastName ?? null}::text ELSE last_name END,
        tags = CASE WHEN ${patch.tags !== undefined}::boolean THEN ${patch.tags ?? []}::text[] ELSE tags END,
        timezone = CASE WHEN ${patch.timezone !== undefined}::boolean THEN ${patch.timezone ?? null}::text ELSE timezone END,
        sms_consent = CASE
          WHEN ${consent}::text IS NULL THEN sms_consent
          WHEN ${consent}::text = 'pending' AND opted_out_at IS NOT NULL THEN sms_consent
          ELSE ${consent}::text END,
        opted_out_at = CASE ${consent}::text
          WHEN 'unsubscribed' THEN COALESCE(opted_out_at, now())
          WHEN 'subscribed' THEN NULL
          ELSE opted_out_at END,
        opt_out_source = CASE ${consent}::text
          WHEN 'unsubscribed' THEN CASE WHEN opted_out_at IS NULL THEN 'api' ELSE opt_out_source END
          WHEN 'subscribed' THEN NULL
          ELSE opt_out_source END,
        updated_at = now()
      WHERE id = ${id}::uuid AND shop_id = ${shopId}::uuid AND erased_at IS NULL
        AND NOT (${consent}::text = 'subscribed' AND opted_out_at IS NOT NULL AND opt_out_source = 'keyword')
        AND NOT (${newHash}::text IS NOT NULL AND ${newHash}::text <> phone_hash AND opted_out_at IS NOT NULL)
      RETURNING id, phone_e164, email, first_name, last_name, sms_consent, tags, timezone, opted_out_at, opt_out_source, created_at, updated_at`;
    });
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new AppError('VALIDATION_FAILED', 'Another contact already has this phone number', { details: [{ path: 'phone', message: 'another contact already has this phone number' }] });
    }
    throw err;
  }
  if (rows[0]) return toContactView(rows[0]);

  const [current] = await db.$queryRaw<{ opt_out_source: string | null }[]>`
    SELECT opt_out_source FROM contacts WHERE id = ${id}::uuid AND shop_id = ${shopId}::uuid AND erased_at IS NULL`;
  if (!current) throw notFound('Contact');
  if (consent === 'subscribed' && current.opt_out_source === 'keyword') {
    throw new AppError('INVALID_STATE', 'The person opted out by texting STOP; only they can opt back in (by texting START)', {
      details: { optOutSource: 'keyword' },
    });
  }
  throw new AppError('INVALID_STATE', 'An opted-out contact keeps its number: the opt-out belongs to it', {
    details: { optOutSource: current.opt_out_source },
  });
}
