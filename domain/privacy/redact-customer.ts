import type { Tx } from '../../lib/db';
import { eraseConsentRecords } from '../consent/consent-source';
import { closeErasedFlowMessages } from '../flows/close-erased-flow-messages';
import { lockBuyerPhones } from '../orders/buyer-phone-lock';
import { lockShopifyCustomer } from '../orders/customer-lock';
import { customerPhoneHashes, e164OfRef, matchesCustomer, type CustomerRef } from './customer-ref';
import { STAGED_ROW_REDACTED, scrubStagedImportRowsByPhone } from './scrub-staged-import-rows';
import { applyInboundText, lockInboundFrom, readInboundText } from '../compliance/inbound-text';
import { routeInbound } from '../compliance/inbound-route';
import { inboundMessageSchema } from '../webhooks/sms-payloads';
import { closeOpenInboundTexts, dropStoredResponsesQuoting, scrubInboundTextsFrom, scrubWebhookPayloads } from './scrub-person-traces';

export interface RedactCustomerResult {
  contactsErased: number;
  inboundScrubbed: number;
  eventsScrubbed: number;
}

const uniq = (xs: (string | null | undefined)[]): string[] => [...new Set(xs.filter((x): x is string => typeof x === 'string' && x.length > 0))];

/**
 * customers/redact: erases one customer's PII everywhere we keep it, in the
 * caller's transaction. Contacts become tombstones (phone hash and opt-out
 * kept, so the number stays unreachable if it had opted out); inbound texts
 * lose number and text (an unprocessed one's STOP or START applied first, as
 * its handler would: an opt-out is never dropped); stored webhook payloads, data-request exports,
 * replayable API responses and import rows that carry the customer are
 * scrubbed. What remains are one-way hashes and ids.
 */
export async function redactCustomer(
  tx: Tx,
  r: {
    requestId: string;
    shopId: string;
    customer: CustomerRef;
    eventRowId: string;
    ordersToRedact?: string[];
    /** PHONE_HASH_KEY: a STOP closed unprocessed is recorded as its handler records it (sms_suppressions.phone_hmac). */
    phoneHashKey: string;
  },
): Promise<RedactCustomerResult> {
  // An import chunk holds its import's row from before it reads its staged
  // rows until the contacts it writes commit. Without this wait a chunk that
  // read the customer's row before the scrub below would write the customer
  // back, after the tombstoning, with its PII. Waiting here, any chunk that
  // holds the row first (the one in flight; the next one too, may it lock the
  // row's new version before we do) commits first, and the statements below
  // (each with a fresh snapshot: READ COMMITTED) find and erase its contacts;
  // a chunk after us reads scrubbed rows. Taken before any contact lock, in
  // the chunk's order (import row, then contacts), so the two cannot deadlock.
  await tx.$queryRaw`
    SELECT id FROM contact_imports WHERE shop_id = ${r.shopId}::uuid AND status IN ('queued', 'running') ORDER BY id FOR UPDATE`;
  // A customers/* webhook or a sync chunk writing this customer's contact
  // holds the customer's lock, then the number's, until it commits; the
  // statement below cannot see a contact it inserted and not yet committed,
  // so without these waits that contact would outlive the redact with its
  // PII. Taken in the writers' order (customer, then number), before any
  // contact row, so the two cannot deadlock.
  if (r.customer.shopifyCustomerId) await lockShopifyCustomer(tx, r.shopId, r.customer.shopifyCustomerId);
  await lockBuyerPhones(tx, r.shopId, customerPhoneHashes(r.customer, []));
  // The inbound handler of a text from one of these numbers to the shop's own sender waits here, or is waited for, as a
  // whole (inbound-text.ts): its STOP writes the suppression, then the contact, so taken before any contact row. The
  // numbers are the ones the contacts hold now; a contact given one more of the customer's numbers meanwhile is
  // matched below all the same, its texts closed and applied below, only not serialised with their handler.
  const heldHashes = await tx.$queryRaw<{ phone_hash: string }[]>`
    SELECT phone_hash FROM contacts c WHERE c.shop_id = ${r.shopId}::uuid AND ${matchesCustomer(r.customer)}`;
  await lockInboundFrom(tx, r.shopId, customerPhoneHashes(r.customer, heldHashes.map((h) => h.phone_hash)));
  const matched = await tx.$queryRaw<{ id: string; phone_e164: string | null; phone_hash: string; email: string | null }[]>`
    WITH m AS (
      SELECT id, phone_e164, phone_hash, email FROM contacts c
       WHERE c.shop_id = ${r.shopId}::uuid AND ${matchesCustomer(r.customer)}
         FOR UPDATE
    ), erased AS (
      UPDATE contacts x
         SET phone_e164 = NULL, email = NULL, first_name = NULL, last_name = NULL, tags = '{}',
             shopify_customer_id = NULL, shopify_updated_at = NULL,
             orders_seen = 0, amount_seen_minor = 0, shopify_orders_count = 0, shopify_amount_spent_minor = 0,
             -- What the two order sources disagreed on goes too: kept, a number brought back later would count its next order twice.
             orders_unseen = 0, orders_uncounted = 0, amount_uncounted_minor = 0,
             amount_spent_currency = NULL, last_order_at = NULL,
             sms_consent = CASE WHEN x.opted_out_at IS NULL THEN 'pending' ELSE 'unsubscribed' END,
             erased_at = COALESCE(x.erased_at, now()), updated_at = now()
        FROM m WHERE x.id = m.id
    )
    SELECT id, phone_e164, phone_hash, email FROM m`;

  const refE164 = e164OfRef(r.customer);
  const phones = uniq([refE164, r.customer.phone, ...matched.map((m) => m.phone_e164)]);
  // Providers may drop the '+'; Shopify payloads may carry the number as typed.
  const phoneForms = uniq(phones.flatMap((p) => [p, p.replace(/^\+/, '')]));
  const emails = uniq([r.customer.email, ...matched.map((m) => m.email)].map((e) => e?.toLowerCase()));
  const hashes = customerPhoneHashes(r.customer, matched.map((m) => m.phone_hash));
  const needles = uniq([...phoneForms, ...emails]);
  const cid = r.customer.shopifyCustomerId;

  // Orders stay as anonymous totals (what a shop sold is not the customer's
  // data); everything linking one to the customer or to where they came from
  // goes. Checkouts exist only to reach the customer: they are deleted.
  const contactIds = matched.map((m) => m.id);
  // An open text from the number to the shop's own sender is closed (its body goes, as the customer's), yet what it
  // said binds as if its handler had run: a STOP is recorded (suppression in the shop's scope, the tombstone opted
  // out), in the order the drain would have applied them, so a START lifts only what the handler's START would (a
  // STOP that arrives late wins), and like any START it opts no tombstone back in. No keyword reply: the number goes.
  // Before the consent records go, so the ones these write go with them.
  const closed = await closeOpenInboundTexts(tx, r.shopId, phoneForms);
  const appliedHashes: string[] = [];
  const now = new Date();
  for (const text of closed) {
    // A body no schema accepts would fail its handler at every retry: nothing to apply.
    const body = inboundMessageSchema.safeParse(text.payload);
    if (!body.success) continue;
    const read = readInboundText(body.data, r.phoneHashKey, now);
    const route = await routeInbound(tx, body.data.to);
    await applyInboundText(tx, { provider: text.provider.replace(/^sms-/, ''), body: body.data, read, route });
    appliedHashes.push(read.fromHash);
  }
  // The consent record goes with the customer (the only deletion its table accepts).
  await eraseConsentRecords(tx, r.shopId, contactIds);
  const orderIds = uniq((r.ordersToRedact ?? []).map(String));
  // An order that carries one of the customer's numbers (its hash, kept to link it later) is theirs too.
  await tx.$executeRaw`
    UPDATE shopify_orders
       SET customer_id = NULL, contact_id = NULL, landing_site = NULL, referring_site = NULL, discount_codes = '{}', buyer_phone_hashes = '{}'
     WHERE shop_id = ${r.shopId}::uuid
       AND (contact_id = ANY(${contactIds}::uuid[]) OR order_id = ANY(${orderIds}::text[])
            OR (${cid}::text IS NOT NULL AND customer_id = ${cid}::text) OR buyer_phone_hashes && ${hashes}::text[])`;
  // Clicks and attributions stay counted for their campaign, no longer linked to the customer.
  await tx.$executeRaw`UPDATE link_clicks SET contact_id = NULL WHERE shop_id = ${r.shopId}::uuid AND contact_id = ANY(${contactIds}::uuid[])`;
  await tx.$executeRaw`UPDATE order_attributions SET contact_id = NULL WHERE shop_id = ${r.shopId}::uuid AND contact_id = ANY(${contactIds}::uuid[])`;
  await tx.$executeRaw`
    DELETE FROM shopify_checkouts
     WHERE shop_id = ${r.shopId}::uuid
       AND (contact_id = ANY(${contactIds}::uuid[]) OR phone_hash = ANY(${hashes}::text[]) OR buyer_phone_hashes && ${hashes}::text[]
            OR (${cid}::text IS NOT NULL AND customer_id = ${cid}::text))`;

  // A flow message still open keeps its text until final: it is not sent now (its run ended with the erasure).
  await closeErasedFlowMessages(tx, r.shopId, contactIds);
  const eventsScrubbed = closed.length + (await scrubWebhookPayloads(tx, {
    shopId: r.shopId, shopifyCustomerId: cid, emails, phoneForms, ownEventId: r.eventRowId,
  }));
  // After the events: an inbound text being applied right now (one the lock above does not serialise) holds its
  // event's row (it minimised it) until it commits, so the close above waits for it and the statements below find
  // the text and the reply it stored; one not yet that far was closed above, and its handler rolls back at its mark.
  // The texts applied above are stored as their handler stores them (number and text): scrubbed with the rest.
  const inboundScrubbed = await scrubInboundTextsFrom(tx, r.shopId, uniq([...hashes, ...appliedHashes]));
  // A keyword reply not yet sent keeps the number until it is final: it is not sent now.
  if (hashes.length) {
    await tx.$executeRaw`
      UPDATE keyword_replies
         SET status = 'suppressed', error_code = 'erased', to_phone_sealed = NULL, claim_token = NULL, lease_until = NULL, final_at = now()
       WHERE to_hash = ANY(${hashes}::text[]) AND (shop_id = ${r.shopId}::uuid OR shop_id IS NULL) AND status IN ('pending', 'sending')`;
  }

  if (needles.length) {
    await tx.$executeRaw`
      UPDATE privacy_requests SET data = jsonb_build_object('redacted', true)
       WHERE shop_id = ${r.shopId}::uuid AND kind = 'data_request'
         AND ((${cid}::text IS NOT NULL AND shopify_customer_id = ${cid}::text)
              OR EXISTS (SELECT 1 FROM unnest(${needles}::text[]) n WHERE strpos(lower(data::text), n) > 0))`;
    await dropStoredResponsesQuoting(tx, r.shopId, needles);
    // An import's staged rows keep none of a redacted customer's values: the
    // job reports such a row as rejected instead of bringing the customer back.
    // Any field quoting the email or the number as stored; the phone as typed is matched below.
    await tx.$executeRaw`
      UPDATE contact_import_rows s SET data = NULL, problem = ${STAGED_ROW_REDACTED}
        FROM contact_imports ci
       WHERE ci.id = s.import_id AND ci.shop_id = ${r.shopId}::uuid AND s.data IS NOT NULL
         AND EXISTS (SELECT 1 FROM unnest(${needles}::text[]) n WHERE strpos(lower(s.data::text), n) > 0)`;
    await tx.$executeRaw`
      UPDATE contact_import_rejections j SET message = 'redacted'
        FROM contact_imports ci
       WHERE ci.id = j.import_id AND ci.shop_id = ${r.shopId}::uuid
         AND EXISTS (SELECT 1 FROM unnest(${needles}::text[]) n WHERE strpos(lower(j.message), n) > 0)`;
  }

  // A staged phone is as the merchant typed it (`(973) 555-0177` under the import's default country): compared as E.164.
  await scrubStagedImportRowsByPhone(tx, r.shopId, phones);

  const result = { contactsErased: matched.length, inboundScrubbed, eventsScrubbed };
  await tx.$executeRaw`
    INSERT INTO privacy_requests (id, shop_id, kind, shopify_customer_id, data)
    VALUES (${r.requestId}::uuid, ${r.shopId}::uuid, 'customer_redact', ${cid}, ${JSON.stringify(result)}::jsonb)
    ON CONFLICT (id) DO NOTHING`;
  return result;
}
