-- Consent written back to Shopify. A consent change made here (keyword,
-- api, import, ...) of a contact that has a Shopify customer id is written to
-- the customer with customerSmsMarketingConsentUpdate. Postgres queues it in
-- the statement that writes the consent record (itself written in the
-- statement that changes the contact): one outbox event per change and one
-- status row per contact, set-based for import chunks. Changes whose source
-- is `shopify` came from Shopify and are never written back.
CREATE TABLE "shopify_consent_writebacks" (
    "contact_id" UUID NOT NULL,
    "shop_id" UUID NOT NULL,
    -- The newest consent record to write; an older job finding a newer one here leaves it to that job.
    "record_id" BIGINT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "written_state" TEXT,
    "last_error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "shopify_consent_writebacks_pkey" PRIMARY KEY ("contact_id"),
    CONSTRAINT "shopify_consent_writebacks_status_check" CHECK ("status" IN ('pending', 'done', 'skipped', 'failed')),
    CONSTRAINT "shopify_consent_writebacks_last_error_check" CHECK (char_length("last_error") <= 500)
);
CREATE INDEX "shopify_consent_writebacks_status_updated_at_idx" ON "shopify_consent_writebacks"("status", "updated_at");
CREATE INDEX "shopify_consent_writebacks_shop_id_idx" ON "shopify_consent_writebacks"("shop_id");
ALTER TABLE "shopify_consent_writebacks" ADD CONSTRAINT "shopify_consent_writebacks_contact_id_fkey" FOREIGN KEY ("contact_id") REFERENCES "contacts"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "shopify_consent_writebacks" ADD CONSTRAINT "shopify_consent_writebacks_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE FUNCTION "consent_records_queue_writeback"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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
    FROM picked p ORDER BY p.id;
  RETURN NULL;
END $$;
CREATE TRIGGER "contact_consent_records_queue_writeback" AFTER INSERT ON "contact_consent_records"
  REFERENCING NEW TABLE AS new_records FOR EACH STATEMENT EXECUTE FUNCTION "consent_records_queue_writeback"();
