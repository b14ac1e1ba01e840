import type { DbOrTx, Tx } from '../../lib/db';
import { UNGUARDED, type IdempotencyGuard } from '../idempotency/guard';
import { allowConsentErasure, inTransaction } from '../consent/consent-source';
import { notFound } from '../../lib/errors';
import { closeErasedFlowMessages } from '../flows/close-erased-flow-messages';
import { dropStoredResponsesQuoting, scrubInboundTextsFrom, scrubWebhookPayloads } from '../privacy/scrub-person-traces';
import { scrubStagedImportRowsByPhone } from '../privacy/scrub-staged-import-rows';

interface ErasedContact {
  id: string;
  phone_e164: string | null;
  phone_hash: string;
  email: string | null;
  shopify_customer_id: string | null;
}

/**
 * DELETE /api/contacts/:id: the PII goes (phone, email, names, tags, Shopify
 * link, order summary), the row stays as an opaque tombstone keyed by the
 * phone hash so its opt-out survives a later re-import of the number. Consent
 * given before the erasure does not: a returning number starts `pending`
 * again. As customers/redact does, the contact's checkouts (matched by
 * contact, phone hash or Shopify customer) are deleted and its orders kept
 * only as anonymous totals, and its consent record is erased. What else
 * still quotes the person goes as customers/redact takes it: stored responses
 * a retry would replay, inbound texts, stored Shopify payloads, rows of an
 * import not applied yet. One transaction, so all of it or none.
 */
export async function eraseContact(db: DbOrTx, shopId: string, id: string, guard: IdempotencyGuard = UNGUARDED): Promise<void> {
  const erased = await inTransaction(db, async (tx) => {
    await guard.assertHeld(tx);
    await allowConsentErasure(tx);
    // As customers/redact: an import chunk holds its import's row from before it reads its staged rows until the
    // contacts it writes commit, so one in flight commits first (the erasure below then finds what it wrote) and
    // one after reads the scrubbed rows; without it, a row staged before the erasure brought the contact back,
    // PII included. Import row before contact row, the chunk's order: the two cannot deadlock.
    await tx.$queryRaw`
      SELECT id FROM contact_imports WHERE shop_id = ${shopId}::uuid AND status IN ('queued', 'running') ORDER BY id FOR UPDATE`;
    const [old] = await tx.$queryRaw<ErasedContact[]>`
    WITH old AS (
      SELECT id, phone_e164, phone_hash, email, shopify_customer_id FROM contacts
       WHERE id = ${id}::uuid AND shop_id = ${shopId}::uuid AND erased_at IS NULL
         FOR UPDATE
    ), erased AS (
      UPDATE contacts c
         SET phone_e164 = NULL, email = NULL, first_name = NULL, last_name = NULL, tags = '{}',
             shopify_customer_id = NULL, shopify_updated_at = NULL,
             orders_seen = 0, amount_seen_minor = 0, shopify_orders_count = 0, shopify_amount_spent_minor = 0,
             -- What the two order sources disagreed on goes too: kept, a number brought back later would count its next order twice.
             orders_unseen = 0, orders_uncounted = 0, amount_uncounted_minor = 0,
             amount_spent_currency = NULL, last_order_at = NULL,
             sms_consent = CASE WHEN c.opted_out_at IS NULL THEN 'pending' ELSE 'unsubscribed' END,
             erased_at = now(), updated_at = now()
        FROM old WHERE c.id = old.id
      RETURNING c.id
    ), checkouts AS (
      DELETE FROM shopify_checkouts k USING old
       WHERE k.shop_id = ${shopId}::uuid
         AND (k.contact_id = old.id OR k.phone_hash = old.phone_hash OR k.buyer_phone_hashes @> ARRAY[old.phone_hash]
              OR k.customer_id = old.shopify_customer_id)
    ), orders AS (
      UPDATE shopify_orders o
         SET customer_id = NULL, contact_id = NULL, landing_site = NULL, referring_site = NULL, discount_codes = '{}', buyer_phone_hashes = '{}'
        FROM old
       WHERE o.shop_id = ${shopId}::uuid
         AND (o.contact_id = old.id OR o.customer_id = old.shopify_customer_id OR o.buyer_phone_hashes @> ARRAY[old.phone_hash])
    ), clicks AS (
      -- Clicks and attributions stay counted for their campaign, no longer linked to the person.
      UPDATE link_clicks k SET contact_id = NULL FROM old WHERE k.shop_id = ${shopId}::uuid AND k.contact_id = old.id
    ), attributions AS (
      UPDATE order_attributions a SET contact_id = NULL FROM old WHERE a.shop_id = ${shopId}::uuid AND a.contact_id = old.id
    ), records AS (
      DELETE FROM contact_consent_records r USING old WHERE r.shop_id = ${shopId}::uuid AND r.contact_id = old.id
    ), replies AS (
      -- A keyword reply not yet sent to the number is not sent now (the precedence table: erased).
      UPDATE keyword_replies k
         SET status = 'suppressed', error_code = 'erased', to_phone_sealed = NULL, claim_token = NULL, lease_until = NULL, final_at = now()
        FROM old WHERE k.shop_id = ${shopId}::uuid AND k.to_hash = old.phone_hash AND k.status IN ('pending', 'sending')
    )
    SELECT o.id, o.phone_e164, o.phone_hash, o.email, o.shopify_customer_id FROM old o JOIN erased e ON e.id = o.id`;
    if (old) {
      // Its run ended with the erasure; a message written before it still holds the text it would have sent.
      await closeErasedFlowMessages(tx, shopId, [old.id]);
      await scrubTraces(tx, shopId, old);
    }
    return old;
  });
  if (!erased) throw notFound('Contact');
}

async function scrubTraces(tx: Tx, shopId: string, c: ErasedContact): Promise<void> {
  // Providers may drop the '+'; Shopify payloads may carry the number so.
  const phoneForms = c.phone_e164 ? [c.phone_e164, c.phone_e164.replace(/^\+/, '')] : [];
  const emails = c.email ? [c.email.toLowerCase()] : [];
  // The id too: a response from before a PATCH moved the number quotes the old one.
  await dropStoredResponsesQuoting(tx, shopId, [...phoneForms, ...emails, c.id]);
  await scrubInboundTextsFrom(tx, shopId, [c.phone_hash]);
  await scrubWebhookPayloads(tx, { shopId, shopifyCustomerId: c.shopify_customer_id, emails, phoneForms });
  // Rows of an import not yet applied, however the number was typed: they become rejections, not the contact again.
  if (c.phone_e164) await scrubStagedImportRowsByPhone(tx, shopId, [c.phone_e164]);
}
