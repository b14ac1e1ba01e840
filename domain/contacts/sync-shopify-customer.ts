import { sql, type Tx } from '../../lib/db';
import { boundedText, declareConsentSource } from '../consent/consent-source';
import { decidedHereSince } from '../consent/decided-here-since';
import type { Consent } from './contact-input';
import { keepLeftNumberOptOut, type LeftNumber } from './keep-left-number-opt-out';
import { normalizePhone, phoneHash } from './phone';
import { takeErasedNumberForCustomer } from './take-erased-number';

/** A Shopify customer as a webhook describes it, already parsed. */
export interface ShopifyCustomerSync {
  shopId: string;
  customerId: string;
  /** Any format Shopify sends; normalised here. Null/undefined: no phone in the event. */
  phone?: string | null;
  /** Present for customers/create|update; absent (consent topic) leaves these fields alone. */
  profile?: { email: string | null; firstName: string | null; lastName: string | null };
  /** Our consent value for Shopify's state; undefined leaves consent alone. */
  consent?: Consent;
  /** The event's own time: the newest one wins, an older one never overwrites. */
  updatedAt: Date;
  /**
   * PHONE_HASH_KEY: when the customer's contact moves off a number it was
   * opted out on, that opt-out stays with the number as a suppression (keyed
   * hash). Needed only then; a move that needs it without it throws.
   */
  phoneHashKey?: string;
  /** What the consent record keeps of Shopify's consent (when consent is given). */
  consentEvidence?: {
    collectedAt: Date;
    shopifyState: string | null;
    optInLevel: string | null;
    consentCollectedFrom: string | null;
    consentUpdatedAt: string | null;
    /** Our webhook_events row id (or the sync run that read it). */
    webhookEventId?: string;
    topic?: string;
    syncId?: string;
  };
}

export type SyncOutcome = 'updated' | 'created' | 'stale' | 'no_phone';

/**
 * Shopify's SMS consent state → ours (docs/shopify.md "Consent mapping").
 * Webhooks send it lower case, the Admin GraphQL API upper case. Only
 * SUBSCRIBED is sendable; PENDING (awaiting the double opt-in confirmation)
 * and NOT_SUBSCRIBED are no consent; UNSUBSCRIBED and REDACTED are an
 * opt-out. An unknown state changes nothing.
 */
export function consentFromShopify(state: string | null | undefined): Consent | undefined {
  switch (state?.toLowerCase()) {
    case 'subscribed':
      return 'subscribed';
    case 'unsubscribed':
    case 'redacted':
      return 'unsubscribed';
    case 'not_subscribed':
    case 'pending':
      return 'pending';
    default:
      return undefined;
  }
}

/**
 * Upserts the contact of a Shopify customer: found by customer id, else by
 * phone. Every write is guarded by `shopify_updated_at < updatedAt`, so events
 * applied in any order end in the newest state. Consent from Shopify never
 * overrides an opt-out recorded elsewhere (a STOP keyword, the merchant, an
 * erasure): only an opt-out that Shopify itself set can Shopify clear. Nor
 * does it override, on the customer's contact, a consent decision made here
 * since Shopify's (consent_updated_at, else the event's time): the newest
 * decision wins, wherever it was made. Erased contacts stay erased; a number
 * only an erased contact's tombstone holds is not "held": the customer's
 * contact takes it with the tombstone's opt-out (takeErasedNumberForCustomer).
 */
export async function syncShopifyCustomer(tx: Tx, s: ShopifyCustomerSync): Promise<SyncOutcome> {
  const e164 = s.phone ? normalizePhone(s.phone) : null;
  const hash = e164 ? phoneHash(e164) : null;
  const consent = s.consent ?? null;
  const hasProfile = s.profile !== undefined;
  const p = s.profile ?? { email: null, firstName: null, lastName: null };
  // Declared for every event: a new contact's first state is recorded too.
  {
    const ev = s.consentEvidence;
    await declareConsentSource(tx, {
      source: 'shopify',
      collectedAt: ev?.collectedAt ?? s.updatedAt,
      evidence: {
        shopifyCustomerId: boundedText(s.customerId),
        shopifyState: boundedText(ev?.shopifyState),
        optInLevel: boundedText(ev?.optInLevel),
        consentCollectedFrom: boundedText(ev?.consentCollectedFrom),
        consentUpdatedAt: boundedText(ev?.consentUpdatedAt),
        ...(ev?.webhookEventId ? { webhookEventId: ev.webhookEventId } : {}),
        ...(ev?.topic ? { topic: boundedText(ev.topic) } : {}),
        ...(ev?.syncId ? { syncId: ev.syncId } : {}),
      },
    });
  }

  // `c` is the existing row in both the UPDATE and the ON CONFLICT branch.
  const keepOptOut = sql`(c.opted_out_at IS NOT NULL AND c.opt_out_source IS DISTINCT FROM 'shopify')`;
  // Only on the customer's own contact: one being linked now (an imported
  // contact) has never had Shopify's state, so that state is news, not stale.
  const consentAt = s.consentEvidence?.collectedAt ?? s.updatedAt;
  const newerHere = sql`(c.shopify_customer_id = ${s.customerId}::text AND ${decidedHereSince(sql`c.id`, sql`${consentAt}::timestamptz`)})`;
  const keepConsent = sql`(${consent}::text IS NULL OR ${keepOptOut} OR ${newerHere})`;
  // The contact moves to a number it did not hold (Shopify's phone changed and
  // no other contact holds it; never in step 2, which conflicts on the number).
  // Consent and opt-out belong to a number: the new one starts from what THIS
  // event says of consent, and only if Shopify collected it after the
  // contact's last decision made here (else it is the old number's state,
  // e.g. a subscription from before a STOP); otherwise it has none (pending).
  const moved = sql`(${e164}::text IS NOT NULL AND c.phone_hash IS DISTINCT FROM ${hash}::text AND NOT EXISTS (
                      SELECT 1 FROM contacts o WHERE o.shop_id = c.shop_id AND o.phone_hash = ${hash}::text AND o.id <> c.id))`;
  // A number an erased contact held: its tombstone gives it up to the moving
  // contact, with the opt-out that survived the erasure (the number stays opted out).
  const carried = hash ? await takeErasedNumberForCustomer(tx, s.shopId, s.customerId, hash, s.updatedAt) : null;
  const movedConsent = sql`(CASE WHEN ${carried !== null}::boolean THEN 'unsubscribed'
                                 WHEN ${consent}::text IS NULL THEN 'pending'
                                 WHEN ${consent}::text <> 'unsubscribed' AND ${decidedHereSince(sql`c.id`, sql`${consentAt}::timestamptz`)} THEN 'pending'
                                 ELSE ${consent}::text END)`;
  const set = sql`
    email = CASE WHEN ${hasProfile}::boolean THEN ${p.email}::text ELSE c.email END,
    first_name = CASE WHEN ${hasProfile}::boolean THEN ${p.firstName}::text ELSE c.first_name END,
    last_name = CASE WHEN ${hasProfile}::boolean THEN ${p.lastName}::text ELSE c.last_name END,
    sms_consent = CASE WHEN ${moved} THEN ${movedConsent} WHEN ${keepConsent} THEN c.sms_consent ELSE ${consent}::text END,
    opted_out_at = CASE WHEN ${moved} THEN CASE WHEN ${movedConsent} = 'unsubscribed' THEN COALESCE(${carried?.optedOutAt ?? null}::timestamptz, ${s.updatedAt}::timestamptz) END
                        WHEN ${keepConsent} THEN c.opted_out_at
                        WHEN ${consent}::text = 'unsubscribed' THEN COALESCE(c.opted_out_at, ${s.updatedAt}) ELSE NULL END,
    opt_out_source = CASE WHEN ${moved} THEN CASE WHEN ${movedConsent} = 'unsubscribed' THEN COALESCE(${carried?.source ?? null}::text, 'shopify') END
                          WHEN ${keepConsent} THEN c.opt_out_source
                          WHEN ${consent}::text = 'unsubscribed' THEN 'shopify' ELSE NULL END,
    shopify_updated_at = ${s.updatedAt},
    updated_at = now()`;
  const newer = sql`c.erased_at IS NULL AND (c.shopify_updated_at IS NULL OR c.shopify_updated_at < ${s.updatedAt})`;

  // 1. The customer's contact: its phone follows Shopify's unless another contact holds that number.
  // `old` is the row as it was (SET sees it too; RETURNING only the new one).
  const byCustomer = await tx.$queryRaw<LeftNumber[]>`
    WITH old AS (
      SELECT id, phone_e164, phone_hash, opted_out_at, opt_out_source FROM contacts
       WHERE shop_id = ${s.shopId}::uuid AND shopify_customer_id = ${s.customerId} FOR UPDATE)
    UPDATE contacts c SET ${set},
           phone_e164 = CASE WHEN ${moved} THEN ${e164}::text ELSE c.phone_e164 END,
           phone_hash = CASE WHEN ${moved} THEN ${hash}::text ELSE c.phone_hash END
      FROM old
     WHERE c.id = old.id AND ${newer}
    RETURNING old.phone_e164 AS old_phone, old.opted_out_at AS old_opted_out_at, old.opt_out_source AS old_source,
              c.phone_hash IS DISTINCT FROM old.phone_hash AS moved`;
  // The tombstone's opt-out is only in this transaction's memory unless the contact took it.
  if (carried && !byCustomer.some((r) => r.moved)) throw new Error('an erased number was released for a Shopify customer move that was not made');
  if (byCustomer.length > 0) {
    for (const r of byCustomer) await keepLeftNumberOptOut(tx, s, r);
    return 'updated';
  }

  const [known] = await tx.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM contacts WHERE shop_id = ${s.shopId}::uuid AND shopify_customer_id = ${s.customerId}`;
  if ((known?.n ?? 0) > 0) return 'stale';
  if (!e164 || !hash) return 'no_phone';

  // 2. A new customer, or one whose number we already hold (linked now).
  const rows = await tx.$queryRaw<{ inserted: boolean }[]>`
    INSERT INTO contacts AS c (shop_id, phone_e164, phone_hash, email, first_name, last_name, sms_consent, opted_out_at, opt_out_source,
                               shopify_customer_id, shopify_updated_at)
    VALUES (${s.shopId}::uuid, ${e164}, ${hash}, ${p.email}, ${p.firstName}, ${p.lastName}, ${consent ?? 'pending'},
            ${consent === 'unsubscribed' ? s.updatedAt : null}, ${consent === 'unsubscribed' ? 'shopify' : null},
            ${s.customerId}, ${s.updatedAt})
    ON CONFLICT (shop_id, phone_hash) DO UPDATE SET ${set}, shopify_customer_id = EXCLUDED.shopify_customer_id
     WHERE ${newer}
    RETURNING (xmax = 0) AS inserted`;
  if (rows.length === 0) return 'stale';
  return rows[0]?.inserted ? 'created' : 'updated';
}

