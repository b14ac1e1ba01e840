-- The consent record: an append-only log of every change of a contact's SMS
-- consent, with where it came from and the evidence, so an opt-in can be
-- proved (TCPA, GDPR) and an opt-out can never be quietly rewritten.
--
-- Rows are written by Postgres itself, in the statement that changes the
-- contact (statement-level triggers on contacts with transition tables: one
-- INSERT ... SELECT per statement, so a 1 000-row import chunk writes its
-- records set-based). The writer declares where the change comes from with a
-- transaction-local setting, app.consent_context (jsonb: source, collectedAt,
-- evidence, and evidence per phone hash for bulk paths); a statement that
-- changes no contact's state writes nothing, so a replay records nothing.
-- Changes made without a declared source (erasure, fixtures, manual SQL) are
-- not consent decisions and are not recorded.
CREATE TABLE "contact_consent_records" (
    "id" BIGSERIAL NOT NULL,
    "shop_id" UUID NOT NULL,
    "contact_id" UUID NOT NULL,
    "state" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "collected_at" TIMESTAMPTZ(3) NOT NULL,
    "recorded_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "evidence" JSONB NOT NULL DEFAULT '{}',
    CONSTRAINT "contact_consent_records_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "contact_consent_records_state_check" CHECK ("state" IN ('subscribed', 'unsubscribed', 'pending')),
    CONSTRAINT "contact_consent_records_source_check" CHECK ("source" IN ('shopify', 'import', 'keyword', 'api', 'checkout', 'double_opt_in')),
    CONSTRAINT "contact_consent_records_evidence_check" CHECK (jsonb_typeof("evidence") = 'object' AND octet_length("evidence"::text) <= 2048)
);
-- Newest first per contact (the API's order and "the current state is the newest record").
CREATE INDEX "contact_consent_records_contact_id_id_idx" ON "contact_consent_records"("contact_id", "id");
CREATE INDEX "contact_consent_records_shop_id_idx" ON "contact_consent_records"("shop_id");
ALTER TABLE "contact_consent_records" ADD CONSTRAINT "contact_consent_records_contact_id_fkey" FOREIGN KEY ("contact_id") REFERENCES "contacts"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "contact_consent_records" ADD CONSTRAINT "contact_consent_records_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Append-only: UPDATE is always refused; DELETE (also the cascade from a
-- deleted contact or shop) only inside a GDPR erasure, which declares itself
-- with SET LOCAL app.gdpr_erasure = 'on'; TRUNCATE never.
CREATE FUNCTION "contact_consent_records_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('app.gdpr_erasure', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'contact_consent_records is append-only: % refused outside a GDPR erasure', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER "contact_consent_records_no_update" BEFORE UPDATE ON "contact_consent_records"
  FOR EACH ROW EXECUTE FUNCTION "contact_consent_records_append_only"();
CREATE TRIGGER "contact_consent_records_no_delete" BEFORE DELETE ON "contact_consent_records"
  FOR EACH ROW EXECUTE FUNCTION "contact_consent_records_append_only"();
CREATE TRIGGER "contact_consent_records_no_truncate" BEFORE TRUNCATE ON "contact_consent_records"
  FOR EACH STATEMENT EXECUTE FUNCTION "contact_consent_records_append_only"();

-- One record per contact whose state a statement changed (or that it created,
-- or brought back from erasure), in the same statement and transaction.
CREATE FUNCTION "contacts_record_consent"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  ctx jsonb := NULLIF(current_setting('app.consent_context', true), '')::jsonb;
BEGIN
  IF ctx IS NULL THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO contact_consent_records (shop_id, contact_id, state, source, collected_at, evidence)
    SELECT n.shop_id, n.id, n.sms_consent, ctx->>'source', COALESCE((ctx->>'collectedAt')::timestamptz, now()),
           COALESCE(ctx->'evidence', '{}') || COALESCE(ctx->'byHash'->n.phone_hash, '{}')
      FROM new_rows n
     WHERE n.erased_at IS NULL
     ORDER BY n.id;
  ELSE
    INSERT INTO contact_consent_records (shop_id, contact_id, state, source, collected_at, evidence)
    SELECT n.shop_id, n.id, n.sms_consent, ctx->>'source', COALESCE((ctx->>'collectedAt')::timestamptz, now()),
           COALESCE(ctx->'evidence', '{}') || COALESCE(ctx->'byHash'->n.phone_hash, '{}')
      FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE n.erased_at IS NULL
       AND (n.sms_consent IS DISTINCT FROM o.sms_consent OR o.erased_at IS NOT NULL)
     ORDER BY n.id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER "contacts_record_consent_insert" AFTER INSERT ON "contacts"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "contacts_record_consent"();
CREATE TRIGGER "contacts_record_consent_update" AFTER UPDATE ON "contacts"
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "contacts_record_consent"();
