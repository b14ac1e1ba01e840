-- shop/redact erases a shop in bounded chunks, one short transaction each,
-- from a job (domain/privacy/erase-shop.ts), instead of one cascading DELETE
-- inside the webhook's 5 s transaction: 200 000 contacts took 10.2 s that
-- way, so a large shop's redaction failed on every attempt.

-- Set (once, never cleared) by shop/redact, in the transaction that hands
-- the erasure to its job; the shop is then `redacted`: the api refuses it
-- and no re-install revives it until the row is gone. Reconciliation re-adds
-- the job of any shop still here a few minutes after this time.
ALTER TABLE "shops" ADD COLUMN "erasure_requested_at" TIMESTAMPTZ(3);
UPDATE "shops" SET "erasure_requested_at" = "updated_at" WHERE "status" = 'redacted';
ALTER TABLE "shops" ADD CONSTRAINT "shops_erasure_check" CHECK (("status" = 'redacted') = ("erasure_requested_at" IS NOT NULL));
CREATE INDEX "shops_erasure_requested_idx" ON "shops" ("erasure_requested_at") WHERE "erasure_requested_at" IS NOT NULL;

-- Every foreign key gets an index leading with its column, so that deleting
-- a referenced row (a contact, a flow message, a campaign, the shop) probes
-- an index instead of scanning the referencing table once per deleted row.
-- Without these, each deleted contact scanned link_clicks, order_attributions
-- and flow_runs whole (test/db/foreign-key-indexes.int.test.ts keeps it so).
-- Nullable keys are indexed only where set: ON DELETE SET NULL looks them up
-- by equality, which implies NOT NULL, so the partial index serves it.
CREATE INDEX "link_clicks_contact_id_idx" ON "link_clicks" ("contact_id") WHERE "contact_id" IS NOT NULL;
CREATE INDEX "link_clicks_shop_id_idx" ON "link_clicks" ("shop_id");
CREATE INDEX "order_attributions_contact_id_idx" ON "order_attributions" ("contact_id") WHERE "contact_id" IS NOT NULL;
CREATE INDEX "order_attributions_flow_message_id_idx" ON "order_attributions" ("flow_message_id") WHERE "flow_message_id" IS NOT NULL;
CREATE INDEX "inbound_messages_shop_id_idx" ON "inbound_messages" ("shop_id");
-- contact_id never changes, so flow_runs' claim and settle updates stay heap-only.
CREATE INDEX "flow_runs_contact_id_idx" ON "flow_runs" ("contact_id");
CREATE INDEX "credit_reservations_campaign_id_idx" ON "credit_reservations" ("campaign_id");
