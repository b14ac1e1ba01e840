import { sql, type Tx } from '../../lib/db';
import { boundedText, declareConsentSource, type Evidence } from '../consent/consent-source';
import { keepLeftNumberOptOut, type LeftNumber } from '../contacts/keep-left-number-opt-out';
import { decidedHereSince } from '../consent/decided-here-since';
import { shopifyRiseSetSql } from '../orders/apply-customer-summary';
import { lockBuyerPhones } from '../orders/buyer-phone-lock';
import { lockShopifyCustomers } from '../orders/customer-lock';
import { linkEarlierPurchases } from '../contacts/link-earlier-purchases';
import type { SyncCustomer } from './bulk-customer';
import { isStorableInstant } from '../campaigns/audience';

/** What one chunk did; the sync row adds these up. */
export interface ChunkCounts {
  customersSeen: number;
  contactsCreated: number;
  contactsUpdated: number;
  contactsUnchanged: number;
  skippedNoPhone: number;
  invalidPhone: number;
  subscribed: number;
  optedOut: number;
}

export const ZERO_COUNTS: ChunkCounts = {
  customersSeen: 0,
  contactsCreated: 0,
  contactsUpdated: 0,
  contactsUnchanged: 0,
  skippedNoPhone: 0,
  invalidPhone: 0,
  subscribed: 0,
  optedOut: 0,
};

/**
 * One chunk of the export applied to the shop's contacts, set-based, inside
 * the caller's (short) transaction, with the same rules as a customer
 * webhook (syncShopifyCustomer) so either path ends in the same state:
 *
 * 1. contacts linked to a customer of the chunk are updated (profile,
 *    consent, and the phone unless another contact holds that number), only
 *    when the export's customer is newer than what was applied
 *    (`shopify_updated_at`); its consent only when also newer than the
 *    contact's last consent decision made here (decidedHereSince). A contact
 *    moved to a new number takes the export's consent for it (if newer than
 *    that decision, else `pending`), and an opt-out of the number it left
 *    stays with that number (a suppression; `phoneHashKey`). A number only
 *    an erased contact's tombstone holds is taken from it first (step 0),
 *    with the opt-out that survived the erasure;
 * 2. customers not linked yet with a valid phone create a contact, or link
 *    the one holding that number;
 * 3. Shopify's order summary (raised only) and tags (added) are applied to
 *    every linked contact;
 * 4. the contacts created, linked or moved here link the orders and open
 *    checkouts stored before them (link-earlier-purchases.ts), under the
 *    chunk's customer and number locks taken first.
 *
 * Consent: SUBSCRIBED → subscribed; PENDING and NOT_SUBSCRIBED → pending
 * (never sendable); UNSUBSCRIBED and REDACTED → opted out (source shopify).
 * An opt-out recorded here (STOP keyword, merchant, API, import, erasure) is
 * never lifted: only an opt-out Shopify set can Shopify clear. Erased
 * contacts stay erased. Consent records are written by the contacts triggers
 * with source `shopify`, evidence `{syncId, shopifyCustomerId, …}` and
 * Shopify's consentUpdatedAt as the collection time, so a sync is told apart
 * from a live consent event (and is never written back to Shopify).
 *
 * A customer without a usable phone is applied only to a contact already
 * linked to it; otherwise it is counted as skipped (no phone / invalid).
 */
export async function applyCustomerChunk(
  tx: Tx,
  o: { shopId: string; syncId: string; customers: SyncCustomer[]; fallbackUpdatedAt: Date; phoneHashKey?: string },
): Promise<ChunkCounts> {
  const counts: ChunkCounts = { ...ZERO_COUNTS, customersSeen: o.customers.length };
  if (o.customers.length === 0) return counts;

  // One row per customer (the last line wins) and one customer per number:
  // ON CONFLICT cannot touch a row twice in a statement.
  const byCustomer = new Map<string, SyncCustomer>();
  for (const c of o.customers) byCustomer.set(c.customerId, c);
  const seenHashes = new Set<string>();
  const rows = [...byCustomer.values()].map((c) => {
    if (!c.phoneHash) return c;
    if (seenHashes.has(c.phoneHash)) return { ...c, phoneE164: null, phoneHash: null, phoneProblem: 'missing' as const };
    seenHashes.add(c.phoneHash);
    return c;
  });

  const byHash: Record<string, Evidence> = {};
  const collectedAtByHash: Record<string, string> = {};
  for (const c of rows) {
    if (!c.phoneHash) continue;
    byHash[c.phoneHash] = {
      shopifyCustomerId: boundedText(c.customerId),
      shopifyState: boundedText(c.shopifyState),
      optInLevel: boundedText(c.optInLevel),
      consentCollectedFrom: boundedText(c.consentCollectedFrom),
      consentUpdatedAt: boundedText(c.consentUpdatedAt),
    };
    const collected = c.consentUpdatedAt ? Date.parse(c.consentUpdatedAt) : Number.NaN;
    if (isStorableInstant(collected)) collectedAtByHash[c.phoneHash] = new Date(collected).toISOString();
  }
  // Before any contact row, as the customers/* webhooks take them: the chunk's customers' locks, then its numbers'
  // (each set sorted, one statement each), so an order or checkout of one of them stored meanwhile is linked once
  // (step 4).
  await lockShopifyCustomers(tx, o.shopId, rows.map((c) => c.customerId));
  await lockBuyerPhones(tx, o.shopId, rows.flatMap((c) => (c.phoneHash ? [c.phoneHash] : [])));
  await declareConsentSource(tx, { source: 'shopify', evidence: { syncId: o.syncId }, byHash });
  if (Object.keys(collectedAtByHash).length > 0) {
    // The consent record trigger reads a per-contact collection time from the same context (migration 20261205100000).
    await tx.$queryRaw`
      SELECT set_config('app.consent_context',
        (current_setting('app.consent_context', true)::jsonb || jsonb_build_object('collectedAtByHash', ${JSON.stringify(collectedAtByHash)}::jsonb))::text, true)`;
  }

  const input = JSON.stringify(
    rows.map((c) => ({
      customer_id: c.customerId,
      phone_e164: c.phoneE164,
      phone_hash: c.phoneHash,
      email: c.email,
      first_name: c.firstName,
      last_name: c.lastName,
      consent: c.consent,
      updated_at: (c.updatedAt ?? o.fallbackUpdatedAt).toISOString(),
      consent_at: consentTime(c, o.fallbackUpdatedAt),
      tags: c.tags,
      orders_count: c.ordersCount,
      spent_minor: c.spentMinor,
      currency: c.currency,
      last_order_at: c.lastOrderAt?.toISOString() ?? null,
    })),
  );
  const inputCte = sql`input AS (
    SELECT * FROM jsonb_to_recordset(${input}::jsonb) AS i(
      customer_id text, phone_e164 text, phone_hash text, email text, first_name text, last_name text, consent text,
      updated_at timestamptz, consent_at timestamptz, tags jsonb, orders_count int, spent_minor bigint, currency text, last_order_at timestamptz))`;
  // `c` is the existing contact, `i` the customer's input row.
  const keepOptOut = sql`(c.opted_out_at IS NOT NULL AND c.opt_out_source IS DISTINCT FROM 'shopify')`;
  // Linked contacts only (step 1): a decision made here after Shopify's is the newer one.
  const keepConsent = sql`(i.consent IS NULL OR ${keepOptOut} OR ${decidedHereSince(sql`c.id`, sql`i.consent_at`)})`;
  // 0. A number only an erased contact's tombstone holds is free to move onto
  // (as syncShopifyCustomer, takeErasedNumberForCustomer): the tombstone gives
  // it up, with its opt-out, for a linked contact this chunk will move there.
  const released = await tx.$queryRaw<{ phone_hash: string; opted_out_at: Date | null; source: string | null }[]>`
    WITH ${inputCte},
    movers AS (
      SELECT i.phone_hash FROM input i JOIN contacts l ON l.shop_id = ${o.shopId}::uuid AND l.shopify_customer_id = i.customer_id
       WHERE i.phone_hash IS NOT NULL AND l.erased_at IS NULL AND l.phone_hash IS DISTINCT FROM i.phone_hash
         AND (l.shopify_updated_at IS NULL OR l.shopify_updated_at < i.updated_at)),
    old AS (
      SELECT t.id, t.phone_hash, t.opted_out_at, t.opt_out_source FROM contacts t
       WHERE t.shop_id = ${o.shopId}::uuid AND t.erased_at IS NOT NULL AND t.phone_hash IN (SELECT phone_hash FROM movers)
       ORDER BY t.phone_hash FOR UPDATE OF t)
    UPDATE contacts t
       SET phone_hash = 'released:' || t.id::text, sms_consent = 'pending', opted_out_at = NULL, opt_out_source = NULL
      FROM old WHERE t.id = old.id
    RETURNING old.phone_hash, old.opted_out_at,
              CASE WHEN old.opted_out_at IS NULL THEN NULL WHEN old.opt_out_source = 'keyword' THEN 'keyword' ELSE 'redact' END AS source`;
  const carried = JSON.stringify(released.filter((r) => r.opted_out_at !== null).map((r) => ({ phone_hash: r.phone_hash, opted_out_at: r.opted_out_at!.toISOString(), source: r.source })));
  const carriedCte = sql`carried AS (SELECT * FROM jsonb_to_recordset(${carried}::jsonb) AS t(phone_hash text, opted_out_at timestamptz, source text))`;
  // Moved to a number it did not hold: consent belongs to the number, so the
  // new one takes only the export's consent, collected after the contact's last
  // decision made here, else none (as syncShopifyCustomer); a tombstone's
  // opt-out (`t`) is the number's and stays.
  const moved = sql`(i.phone_hash IS NOT NULL AND c.phone_hash IS DISTINCT FROM i.phone_hash AND NOT EXISTS (
                      SELECT 1 FROM contacts o WHERE o.shop_id = c.shop_id AND o.phone_hash = i.phone_hash AND o.id <> c.id))`;
  const movedConsent = sql`(CASE WHEN t.opted_out_at IS NOT NULL THEN 'unsubscribed'
                                 WHEN i.consent IS NULL THEN 'pending'
                                 WHEN i.consent <> 'unsubscribed' AND ${decidedHereSince(sql`c.id`, sql`i.consent_at`)} THEN 'pending'
                                 ELSE i.consent END)`;
  const consentSet = sql`
    sms_consent = CASE WHEN ${moved} THEN ${movedConsent} WHEN ${keepConsent} THEN c.sms_consent ELSE i.consent END,
    opted_out_at = CASE WHEN ${moved} THEN CASE WHEN ${movedConsent} = 'unsubscribed' THEN COALESCE(t.opted_out_at, i.updated_at) END
                        WHEN ${keepConsent} THEN c.opted_out_at
                        WHEN i.consent = 'unsubscribed' THEN COALESCE(c.opted_out_at, i.updated_at) ELSE NULL END,
    opt_out_source = CASE WHEN ${moved} THEN CASE WHEN ${movedConsent} = 'unsubscribed' THEN COALESCE(t.source, 'shopify') END
                          WHEN ${keepConsent} THEN c.opt_out_source
                          WHEN i.consent = 'unsubscribed' THEN 'shopify' ELSE NULL END`;

  // 1. Contacts already linked to a customer of the chunk (`old`: the row as it was, for the number it leaves).
  const updated = await tx.$queryRaw<(LeftNumber & { customer_id: string; contact_id: string; phone_hash: string })[]>`
    WITH ${inputCte}, ${carriedCte},
    old AS (
      SELECT k.id, k.phone_e164, k.phone_hash, k.opted_out_at, k.opt_out_source FROM contacts k
       WHERE k.shop_id = ${o.shopId}::uuid AND k.shopify_customer_id IN (SELECT customer_id FROM input) FOR UPDATE)
    UPDATE contacts c SET
      email = i.email, first_name = i.first_name, last_name = i.last_name,
      ${consentSet},
      phone_e164 = CASE WHEN ${moved} THEN i.phone_e164 ELSE c.phone_e164 END,
      phone_hash = CASE WHEN ${moved} THEN i.phone_hash ELSE c.phone_hash END,
      shopify_updated_at = i.updated_at,
      updated_at = now()
      FROM input i LEFT JOIN carried t ON t.phone_hash = i.phone_hash, old
     WHERE c.shop_id = ${o.shopId}::uuid AND c.shopify_customer_id = i.customer_id AND c.id = old.id
       AND c.erased_at IS NULL AND (c.shopify_updated_at IS NULL OR c.shopify_updated_at < i.updated_at)
    RETURNING i.customer_id, c.id AS contact_id, old.phone_e164 AS old_phone, old.opted_out_at AS old_opted_out_at, old.opt_out_source AS old_source,
              c.phone_hash IS DISTINCT FROM old.phone_hash AS moved, c.phone_hash`;
  // A tombstone's opt-out is only in this transaction's memory unless a contact took it.
  const took = new Set(updated.filter((r) => r.moved).map((r) => r.phone_hash));
  if (released.some((r) => r.opted_out_at !== null && !took.has(r.phone_hash))) {
    throw new Error('an erased number was released for a Shopify customer move that was not made');
  }
  // The number a contact left keeps its opt-out (a keyword one has its suppression already, in its STOP's scope).
  for (const r of updated) await keepLeftNumberOptOut(tx, o, r);

  // 2. Customers not linked yet, with a valid phone: a new contact, or the contact holding the number (linked now).
  const inserted = await tx.$queryRaw<{ customer_id: string; contact_id: string; inserted: boolean }[]>`
    WITH ${inputCte}
    INSERT INTO contacts AS c (shop_id, phone_e164, phone_hash, email, first_name, last_name, sms_consent, opted_out_at, opt_out_source,
                               shopify_customer_id, shopify_updated_at)
    SELECT ${o.shopId}::uuid, i.phone_e164, i.phone_hash, i.email, i.first_name, i.last_name, COALESCE(i.consent, 'pending'),
           CASE WHEN i.consent = 'unsubscribed' THEN i.updated_at END, CASE WHEN i.consent = 'unsubscribed' THEN 'shopify' END,
           i.customer_id, i.updated_at
      FROM input i
     WHERE i.phone_hash IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM contacts k WHERE k.shop_id = ${o.shopId}::uuid AND k.shopify_customer_id = i.customer_id)
     -- A fixed lock order: overlapping writers wait for each other instead of deadlocking.
     ORDER BY i.phone_hash
    ON CONFLICT (shop_id, phone_hash) DO UPDATE SET
      email = EXCLUDED.email, first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
      sms_consent = CASE WHEN (SELECT v.consent FROM input v WHERE v.phone_hash = EXCLUDED.phone_hash) IS NULL OR ${keepOptOut}
                         THEN c.sms_consent ELSE EXCLUDED.sms_consent END,
      opted_out_at = CASE WHEN (SELECT v.consent FROM input v WHERE v.phone_hash = EXCLUDED.phone_hash) IS NULL OR ${keepOptOut} THEN c.opted_out_at
                          WHEN EXCLUDED.sms_consent = 'unsubscribed' THEN COALESCE(c.opted_out_at, EXCLUDED.opted_out_at) ELSE NULL END,
      opt_out_source = CASE WHEN (SELECT v.consent FROM input v WHERE v.phone_hash = EXCLUDED.phone_hash) IS NULL OR ${keepOptOut} THEN c.opt_out_source
                            WHEN EXCLUDED.sms_consent = 'unsubscribed' THEN 'shopify' ELSE NULL END,
      shopify_customer_id = EXCLUDED.shopify_customer_id,
      shopify_updated_at = EXCLUDED.shopify_updated_at,
      updated_at = now()
     WHERE c.erased_at IS NULL AND (c.shopify_updated_at IS NULL OR c.shopify_updated_at < EXCLUDED.shopify_updated_at)
    RETURNING c.shopify_customer_id AS customer_id, c.id AS contact_id, (xmax = 0) AS inserted`;

  // 3. Order summary (only ever raised, as applyShopifyCustomerSummary; a rise is history, no order now) and tags (added, at most 50), where they change anything.
  await tx.$executeRaw`
    WITH ${inputCte}
    UPDATE contacts c SET
      shopify_orders_count = GREATEST(c.shopify_orders_count, COALESCE(i.orders_count, 0)),
      shopify_amount_spent_minor = CASE
        WHEN i.spent_minor IS NOT NULL AND (c.amount_spent_currency IS NULL OR c.amount_spent_currency = i.currency)
        THEN GREATEST(c.shopify_amount_spent_minor, i.spent_minor) ELSE c.shopify_amount_spent_minor END,
      amount_spent_currency = CASE WHEN i.spent_minor IS NOT NULL THEN COALESCE(c.amount_spent_currency, i.currency) ELSE c.amount_spent_currency END,
      last_order_at = GREATEST(c.last_order_at, i.last_order_at),
      ${shopifyRiseSetSql(sql`i.orders_count`, sql`i.spent_minor`, sql`i.currency`, { ordersNow: false })},
      tags = CASE WHEN jsonb_array_length(i.tags) = 0 THEN c.tags ELSE ARRAY(
               SELECT t FROM unnest(c.tags || ARRAY(SELECT jsonb_array_elements_text(i.tags))) WITH ORDINALITY AS u(t, n)
                GROUP BY t ORDER BY min(n) LIMIT 50) END,
      updated_at = now()
      FROM input i
     WHERE c.shop_id = ${o.shopId}::uuid AND c.shopify_customer_id = i.customer_id AND c.erased_at IS NULL
       AND (c.shopify_orders_count < COALESCE(i.orders_count, 0)
            OR (i.spent_minor IS NOT NULL AND c.shopify_amount_spent_minor < i.spent_minor
                AND (c.amount_spent_currency IS NULL OR c.amount_spent_currency = i.currency))
            OR (i.last_order_at IS NOT NULL AND c.last_order_at IS DISTINCT FROM GREATEST(c.last_order_at, i.last_order_at))
            OR (cardinality(c.tags) < 50 AND NOT (ARRAY(SELECT jsonb_array_elements_text(i.tags)) <@ c.tags)))`;

  // 4. The contacts this chunk created, linked to their customer or moved to a number link the orders and open
  // checkouts stored before them, as the customers/* webhook would (link-earlier-purchases.ts: same window, bound
  // and triggers; a few statements for the chunk). The outbox dispatcher publishes the triggers.
  await linkEarlierPurchases(tx, {
    shopId: o.shopId,
    contactIds: [...new Set([...inserted.map((r) => r.contact_id), ...updated.filter((r) => r.moved).map((r) => r.contact_id)])],
    traceId: null,
  });

  const touched = new Set(updated.map((r) => r.customer_id));
  const created = new Set<string>();
  for (const r of inserted) {
    touched.add(r.customer_id);
    if (r.inserted) created.add(r.customer_id);
  }
  // Per customer line: skipped (no usable phone and not linked), created, updated or unchanged.
  const linked = await linkedCustomers(tx, o.shopId, rows.filter((c) => !c.phoneHash).map((c) => c.customerId));
  for (const c of o.customers) {
    const applicable = c.phoneHash !== null || linked.has(c.customerId) || touched.has(c.customerId);
    if (!applicable) {
      if (c.phoneProblem === 'invalid') counts.invalidPhone++;
      else counts.skippedNoPhone++;
      continue;
    }
    if (created.has(c.customerId)) {
      counts.contactsCreated++;
      created.delete(c.customerId);
    } else if (touched.has(c.customerId)) {
      counts.contactsUpdated++;
      touched.delete(c.customerId);
    } else counts.contactsUnchanged++;
    if (c.consent === 'subscribed') counts.subscribed++;
    else if (c.consent === 'unsubscribed') counts.optedOut++;
  }
  return counts;
}

/** When Shopify's consent was decided: its consentUpdatedAt, else the customer's time. */
function consentTime(c: SyncCustomer, fallback: Date): string {
  const t = c.consentUpdatedAt ? Date.parse(c.consentUpdatedAt) : Number.NaN;
  // A time timestamptz refuses (year 0, six digits) is no time: it would fail the chunk's statement.
  return (isStorableInstant(t) ? new Date(t) : (c.updatedAt ?? fallback)).toISOString();
}

async function linkedCustomers(tx: Tx, shopId: string, customerIds: string[]): Promise<Set<string>> {
  if (customerIds.length === 0) return new Set();
  const rows = await tx.$queryRaw<{ customer_id: string }[]>`
    SELECT shopify_customer_id AS customer_id FROM contacts
     WHERE shop_id = ${shopId}::uuid AND shopify_customer_id = ANY(${customerIds}::text[]) AND erased_at IS NULL`;
  return new Set(rows.map((r) => r.customer_id));
}
