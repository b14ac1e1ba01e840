-- The write-back trigger's statement is planned at each run (EXECUTE) instead
-- of once per session. PL/pgSQL keeps a static statement's plan for the life
-- of the connection; one first made while `contacts` was nearly empty (a new
-- database, the first requests after a deploy) joined every new consent record
-- to a sequential scan of `contacts`, and kept doing so as the table grew
-- until an ANALYZE happened to invalidate it: a 50 000-row import's chunks
-- took ~8 s each instead of ~0.2 s (1 000 records × a scan of every contact).
-- Planned fresh, the join goes by `contacts_pkey` at any size; planning costs
-- well under a millisecond once per statement that writes consent records.
CREATE OR REPLACE FUNCTION "consent_records_queue_writeback"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE $sql$
  WITH picked AS (
    SELECT DISTINCT ON (r.contact_id) r.id, r.shop_id, r.contact_id
      FROM new_records r JOIN contacts c ON c.id = r.contact_id
     WHERE r.source <> 'shopify' AND r.state IN ('subscribed', 'unsubscribed')
       AND c.shopify_customer_id IS NOT NULL AND c.erased_at IS NULL
     ORDER BY r.contact_id, r.id DESC
  ), status_rows AS (
    INSERT INTO shopify_consent_writebacks (contact_id, shop_id, record_id)
    SELECT contact_id, shop_id, id FROM picked
    ON CONFLICT (contact_id) DO UPDATE
      SET record_id = EXCLUDED.record_id, status = 'pending', attempts = 0, last_error = NULL, updated_at = now()
  )
  INSERT INTO outbox_events (event_type, aggregate_id, payload)
  SELECT 'contact.consent-writeback.v1', p.contact_id::text,
         jsonb_build_object('shopId', p.shop_id, 'contactId', p.contact_id, 'recordId', p.id::text)
    FROM picked p ORDER BY p.id
  $sql$;
  RETURN NULL;
END $$;
