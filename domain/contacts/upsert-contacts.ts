import { sql, type DbOrTx } from '../../lib/db';
import type { Consent } from './contact-input';
import type { ContactRow } from './contact-view';

/** One contact to upsert; an omitted field keeps what the contact has. */
export interface ContactUpsert {
  phoneE164: string;
  phoneHash: string;
  email?: string;
  firstName?: string;
  lastName?: string;
  smsConsent?: Consent;
  tags?: string[];
  /** IANA zone (contact-input.ts timezoneField); omitted keeps the contact's. */
  timezone?: string;
}

export interface UpsertedContact extends ContactRow {
  phone_hash: string;
  /** A new contact, or an erased one brought back (it was not visible before). */
  created: boolean;
}

/**
 * Upserts many contacts of one shop in ONE set-based statement
 * (INSERT … SELECT FROM jsonb_to_recordset … ON CONFLICT DO UPDATE) keyed on
 * (shop_id, phone_hash), so concurrent upserts of a number cannot duplicate it.
 * Merge rules (an upsert never loses information):
 * - email and names: a given value replaces, an omitted one keeps;
 * - tags: added to the contact's tags (at most 50); PATCH replaces them;
 * - consent: `unsubscribed` records an opt-out (source = `source`; it takes
 *   over a `shopify` one, so that Shopify cannot lift what the merchant
 *   decided); `subscribed` never lifts an opt-out, whoever recorded it: an
 *   upsert is an "add" (the admin's Add contact, an import row) made without
 *   looking at the contact, so an opted-out number stays opted out and the
 *   answer shows it; only a PATCH (an edit of the contact, which shows the
 *   opt-out) or the person's START lifts one; `pending` never overrides a
 *   decision;
 * - an erased tombstone comes back with its phone and keeps its opt-out,
 *   marked `redact` (a keyword one stays `keyword`) whatever the row says,
 *   so that no later upsert lifts it either.
 * Rows must have distinct phone hashes (collapse duplicates first: ON CONFLICT
 * cannot touch one row twice in a statement).
 */
export async function upsertContacts(db: DbOrTx, shopId: string, rows: ContactUpsert[], source: 'api' | 'import'): Promise<UpsertedContact[]> {
  if (rows.length === 0) return [];
  if (new Set(rows.map((r) => r.phoneHash)).size !== rows.length) throw new Error('upsertContacts: duplicate phone hashes in one statement');
  // The rows travel as ONE jsonb parameter: the driver encodes a 1 000-row
  // chunk of seven text[] parameters about 5x slower than one JSON string.
  const input = JSON.stringify(
    rows.map((r) => ({
      phone_e164: r.phoneE164,
      phone_hash: r.phoneHash,
      email: r.email ?? null,
      first_name: r.firstName ?? null,
      last_name: r.lastName ?? null,
      sms_consent: r.smsConsent ?? null,
      tags: r.tags ?? [],
      timezone: r.timezone ?? null,
    })),
  );
  // `c` is the existing row (ON CONFLICT). No opt-out is an upsert's to lift
  // (a merchant's recorded one may be the person's request made by phone or in
  // store): `subscribed` only subscribes a number that is not opted out.
  const liftable = sql`(c.opted_out_at IS NULL)`;
  const result = await db.$queryRaw<(ContactRow & { phone_hash: string; inserted: boolean; revived: boolean })[]>`
    WITH input AS (
      SELECT * FROM jsonb_to_recordset(${input}::jsonb)
        AS i(phone_e164 text, phone_hash text, email text, first_name text, last_name text, sms_consent text, tags jsonb, timezone text)
    ),
    -- Tombstones among the input, read before the upsert (one unique-index probe per row).
    revived AS (
      SELECT c.phone_hash FROM input i JOIN contacts c ON c.shop_id = ${shopId}::uuid AND c.phone_hash = i.phone_hash
       WHERE c.erased_at IS NOT NULL
    )
    INSERT INTO contacts AS c (shop_id, phone_e164, phone_hash, email, first_name, last_name, sms_consent, tags, opted_out_at, opt_out_source, timezone)
    SELECT ${shopId}::uuid, i.phone_e164, i.phone_hash, i.email, i.first_name, i.last_name, COALESCE(i.sms_consent, 'pending'),
           ARRAY(SELECT jsonb_array_elements_text(i.tags)),
           CASE WHEN i.sms_consent = 'unsubscribed' THEN now() END,
           CASE WHEN i.sms_consent = 'unsubscribed' THEN ${source} END,
           i.timezone
      FROM input i
     -- A fixed lock order: two overlapping upserts wait for each other instead of deadlocking.
     ORDER BY i.phone_hash
    ON CONFLICT (shop_id, phone_hash) DO UPDATE SET
      phone_e164 = EXCLUDED.phone_e164,
      email = COALESCE(EXCLUDED.email, c.email),
      first_name = COALESCE(EXCLUDED.first_name, c.first_name),
      last_name = COALESCE(EXCLUDED.last_name, c.last_name),
      timezone = COALESCE(EXCLUDED.timezone, c.timezone),
      tags = CASE WHEN cardinality(EXCLUDED.tags) = 0 THEN c.tags ELSE ARRAY(
               SELECT t FROM unnest(c.tags || EXCLUDED.tags) WITH ORDINALITY AS u(t, n) GROUP BY t ORDER BY min(n) LIMIT 50) END,
      -- No opt-out is an upsert's to lift: only a PATCH or a START lifts one.
      -- A tombstone is revived as it is, opt-out included.
      sms_consent = CASE
        WHEN EXCLUDED.sms_consent = 'unsubscribed' THEN 'unsubscribed'
        WHEN EXCLUDED.sms_consent = 'subscribed' AND ${liftable} THEN 'subscribed'
        ELSE c.sms_consent END,
      opted_out_at = CASE
        WHEN EXCLUDED.sms_consent = 'unsubscribed' THEN COALESCE(c.opted_out_at, EXCLUDED.opted_out_at)
        WHEN EXCLUDED.sms_consent = 'subscribed' AND ${liftable} THEN NULL
        ELSE c.opted_out_at END,
      -- The revived tombstone first: a row saying 'unsubscribed' must not turn
      -- the erasure's protection into a liftable 'api'/'import' opt-out.
      opt_out_source = CASE
        WHEN c.erased_at IS NOT NULL AND c.opted_out_at IS NOT NULL THEN CASE WHEN c.opt_out_source = 'keyword' THEN 'keyword' ELSE 'redact' END
        WHEN EXCLUDED.sms_consent = 'unsubscribed' THEN CASE
          WHEN c.opt_out_source IS NULL OR c.opt_out_source = 'shopify' THEN EXCLUDED.opt_out_source ELSE c.opt_out_source END
        WHEN EXCLUDED.sms_consent = 'subscribed' AND ${liftable} THEN NULL
        ELSE c.opt_out_source END,
      created_at = CASE WHEN c.erased_at IS NULL THEN c.created_at ELSE now() END,
      erased_at = NULL,
      updated_at = now()
    RETURNING id, phone_e164, phone_hash, email, first_name, last_name, sms_consent, tags, timezone, opted_out_at, opt_out_source, created_at, updated_at,
              (xmax = 0) AS inserted, phone_hash IN (SELECT phone_hash FROM revived) AS revived`;
  return result.map(({ inserted, revived, ...row }) => ({ ...row, created: inserted || revived }));
}
