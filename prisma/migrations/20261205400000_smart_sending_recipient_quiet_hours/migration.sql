-- Smart sending (a per-contact frequency cap across campaigns) and quiet
-- hours in the recipient's local time (docs/architecture.md, "Smart sending
-- and recipient quiet hours").

-- Shop settings: the cap is on by default, 16 hours, 1..168.
ALTER TABLE "shops"
    ADD COLUMN "smart_sending_enabled" BOOLEAN NOT NULL DEFAULT true,
    ADD COLUMN "smart_sending_window_hours" INTEGER NOT NULL DEFAULT 16,
    ADD CONSTRAINT "shops_smart_sending_window_check" CHECK ("smart_sending_window_hours" BETWEEN 1 AND 168);

-- A campaign may send to everyone regardless of the cap.
ALTER TABLE "campaigns" ADD COLUMN "ignore_smart_sending" BOOLEAN NOT NULL DEFAULT false;

-- The contact's own time zone (IANA name) when the merchant knows it; else
-- the send path infers one from the phone number.
ALTER TABLE "contacts"
    ADD COLUMN "timezone" TEXT,
    ADD CONSTRAINT "contacts_timezone_check" CHECK ("timezone" IS NULL OR "timezone" ~ '^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$');

-- A batch's recipients held back by quiet hours at its last attempt, and the
-- earliest instant one of them may be sent: the batch job is delayed to it,
-- the stuck-campaign gauge reads it as expected activity, and the deferred
-- gauge sums `deferred` over the pending batches that are waiting.
ALTER TABLE "campaign_batches"
    ADD COLUMN "deferred" INTEGER NOT NULL DEFAULT 0,
    ADD CONSTRAINT "campaign_batches_deferred_check" CHECK ("deferred" >= 0);
CREATE INDEX "campaign_batches_waiting_idx" ON "campaign_batches"("not_before")
    WHERE "status" = 'pending' AND "not_before" IS NOT NULL;

-- One send slot per contact: the last campaign message claimed for them.
-- The batch claim takes the slot with a guarded upsert in the claim's own
-- transaction (claim-batch.ts), so of two campaigns claiming one contact at
-- the same instant exactly one gets it. A slot whose message then failed
-- is given back (`last_at` returns to `prev_at`).
-- Narrow, one index, no foreign key (the claim would lock every contact row
-- it names) and updated in place: fillfactor leaves room for HOT updates.
CREATE TABLE "contact_send_slots" (
    "contact_id" UUID NOT NULL,
    "shop_id" UUID NOT NULL,
    "campaign_id" UUID,
    "last_at" TIMESTAMPTZ(3),
    "prev_at" TIMESTAMPTZ(3),
    CONSTRAINT "contact_send_slots_pkey" PRIMARY KEY ("contact_id")
) WITH (fillfactor = 70);

-- A contact's slot goes with the contact (and so with its shop).
CREATE FUNCTION "contacts_drop_send_slots"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "contact_send_slots" s USING gone g WHERE s."contact_id" = g."id";
  RETURN NULL;
END
$$;
CREATE TRIGGER "contacts_drop_send_slots" AFTER DELETE ON "contacts"
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION "contacts_drop_send_slots"();
