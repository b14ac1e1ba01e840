import type { Tx } from '../../lib/db';

/**
 * Where a person's number, email or texts are kept beyond their contact row:
 * replayable API responses, inbound texts and stored webhook payloads. Shared
 * by customers/redact and DELETE /api/contacts/:id, which must erase the same.
 */

/**
 * A stored response to replay may quote the person (POST/PATCH
 * /api/contacts): its key is dropped, so the response is never served again.
 * `needles` are lower case (numbers, emails, ids).
 */
export async function dropStoredResponsesQuoting(tx: Tx, shopId: string, needles: string[]): Promise<number> {
  if (needles.length === 0) return 0;
  return tx.$executeRaw`
    DELETE FROM idempotency_keys
     WHERE shop_id = ${shopId}::uuid AND response_body IS NOT NULL
       AND EXISTS (SELECT 1 FROM unnest(${needles}::text[]) n WHERE strpos(lower(response_body::text), n) > 0)`;
}

/**
 * Inbound texts from these numbers (by phone hash) lose number and text. A
 * text to a shared sender belongs to no shop: it is the person's all the same.
 */
export async function scrubInboundTextsFrom(tx: Tx, shopId: string, phoneHashes: string[]): Promise<number> {
  if (phoneHashes.length === 0) return 0;
  return tx.$executeRaw`
    UPDATE inbound_messages SET from_phone = NULL, text = NULL
     WHERE from_hash = ANY(${phoneHashes}::text[]) AND (shop_id = ${shopId}::uuid OR shop_id IS NULL)
       AND (from_phone IS NOT NULL OR text IS NOT NULL)`;
}

export interface WebhookPayloadMatch {
  shopId: string;
  shopifyCustomerId: string | null;
  /** Lower case. */
  emails: string[];
  /** Every form a payload may carry the number in (with and without '+', as typed). */
  phoneForms: string[];
  /** The customers/redact event doing the erasing: scrubbed too, but its status is its handler's. */
  ownEventId?: string | null;
}

/** Stored webhook payloads that carry the person are replaced by `{"redacted": true}`. */
export async function scrubWebhookPayloads(tx: Tx, m: WebhookPayloadMatch): Promise<number> {
  const own = m.ownEventId ?? null;
  const cid = m.shopifyCustomerId;
  return tx.$executeRaw`
    UPDATE webhook_events SET payload = jsonb_build_object('redacted', true),
           -- One still open has nothing left to act on (its body is gone, and
           -- acting on it would bring the customer back): it ends ignored
           -- instead of failing every retry on a body no schema accepts.
           status = CASE WHEN id IS DISTINCT FROM ${own}::uuid AND status IN ('received', 'failed') THEN 'ignored' ELSE status END,
           processed_at = CASE WHEN id IS DISTINCT FROM ${own}::uuid AND status IN ('received', 'failed') THEN now() ELSE processed_at END,
           next_attempt_at = CASE WHEN id IS DISTINCT FROM ${own}::uuid AND status IN ('received', 'failed') THEN NULL ELSE next_attempt_at END,
           last_error = CASE WHEN id IS DISTINCT FROM ${own}::uuid AND status IN ('received', 'failed') THEN 'redacted before it was processed' ELSE last_error END
     WHERE id = ${own}::uuid
        OR (provider = 'shopify' AND shop_id = ${m.shopId}::uuid AND (
              (${cid}::text IS NOT NULL AND (payload->>'id' = ${cid}::text OR payload->'customer'->>'id' = ${cid}::text))
              OR lower(payload->>'email') = ANY(${m.emails}::text[]) OR lower(payload->'customer'->>'email') = ANY(${m.emails}::text[])
              OR payload->>'phone' = ANY(${m.phoneForms}::text[]) OR payload->'customer'->>'phone' = ANY(${m.phoneForms}::text[])
              -- An order kept its buyer's number from an address when it had no other (buyer-phones.ts).
              OR payload->'billing_address'->>'phone' = ANY(${m.phoneForms}::text[]) OR payload->'shipping_address'->>'phone' = ANY(${m.phoneForms}::text[])))`;
}

export interface ClosedInboundText {
  provider: string;
  /** The body as it was before the close (the close replaced it by `{"redacted": true}`). */
  payload: unknown;
}

/**
 * customers/redact only: closes the unprocessed inbound texts from the
 * number to a sender this shop owns (the only texts the handler stores with
 * number and text for it), `ignored` with their body gone like the
 * customer's other open events, and returns their bodies in the order the
 * drain would have applied them (received_at, id), for the redact to apply
 * their keywords itself: a STOP among them still binds. A merchant's delete
 * (erase-contact.ts) closes none: their STOP still has to reach the
 * tombstone. Texts to a shared sender, to no shop's or to another shop's are
 * left to their handler: it keeps no number of them for this shop, and their
 * STOP binds other shops too. Processed inbound events keep no number (see
 * the inbound handler): only open ones can. Sent to the shop's own sender as
 * routeInbound reads `to` (trimmed; a numeric one with or without '+', owned
 * ones in any case).
 */
export async function closeOpenInboundTexts(tx: Tx, shopId: string, phoneForms: string[]): Promise<ClosedInboundText[]> {
  if (phoneForms.length === 0) return [];
  return tx.$queryRaw<ClosedInboundText[]>`
    WITH open AS (
      SELECT id, provider, payload, received_at FROM webhook_events
       WHERE status IN ('received', 'failed') AND provider LIKE 'sms-%' AND topic = 'inbound' AND payload->>'from' = ANY(${phoneForms}::text[])
         AND EXISTS (SELECT 1 FROM shops s WHERE s.id = ${shopId}::uuid AND s.sender_owned
                        AND lower(s.sender_id) IN (lower(btrim(payload->>'to')), lower(ltrim(btrim(payload->>'to'), '+'))))
         FOR UPDATE
    ), closed AS (
      UPDATE webhook_events w
         SET payload = jsonb_build_object('redacted', true), status = 'ignored', processed_at = now(), next_attempt_at = NULL,
             last_error = 'redacted before it was processed'
        FROM open WHERE w.id = open.id
    )
    SELECT provider, payload FROM open ORDER BY received_at, id`;
}
