-- Inbound texts route to a shop only through a sender that shop owns.
-- An owned sender is one no other shop sends as: a PATCH of senderId claims it
-- (409 when another shop uses it); the platform's shared default sender
-- (SMS_DEFAULT_SENDER) is never owned. Case-insensitive: `AcmeShop` and
-- `ACMESHOP` read the same on a handset.
ALTER TABLE "shops" ADD COLUMN "sender_owned" BOOLEAN NOT NULL DEFAULT false;

-- Existing shops own their sender when they alone use it and it is not the
-- shipped default; senders several shops share stay shared (their STOPs are
-- applied to all of them, see sms_suppressions).
UPDATE "shops" s SET "sender_owned" = true
 WHERE s."sender_id" <> 'Marketing'
   AND NOT EXISTS (SELECT 1 FROM "shops" o WHERE lower(o."sender_id") = lower(s."sender_id") AND o."id" <> s."id");

CREATE UNIQUE INDEX "shops_owned_sender_key" ON "shops"(lower("sender_id")) WHERE "sender_owned";

-- Opt-outs of numbers a shop does not hold as a contact. Never a contact row
-- and never a readable number: the number is kept only as HMAC-SHA256 with a
-- server key (PHONE_HASH_KEY), which cannot be reversed by enumerating phone
-- numbers without the key. Checked at send time (domain/compliance/suppressions.ts),
-- never listed or exported. Scope of an entry:
--   'shop:<id>'      a STOP to a sender that shop owns;
--   'sender:<lower>' a STOP to a shared sender: every send from that sender;
--   'all'            a STOP to a number no shop sends as (e.g. the provider's
--                    reply number for alphanumeric senders): every send.
CREATE TABLE "sms_suppressions" (
    "phone_hmac" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "shop_id" UUID,
    "opted_out_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "sms_suppressions_pkey" PRIMARY KEY ("phone_hmac", "scope"),
    CONSTRAINT "sms_suppressions_hmac_check" CHECK ("phone_hmac" ~ '^[0-9a-f]{64}$'),
    CONSTRAINT "sms_suppressions_scope_check" CHECK (
        ("shop_id" IS NOT NULL AND "scope" = 'shop:' || "shop_id"::text)
        OR ("shop_id" IS NULL AND ("scope" = 'all' OR "scope" ~ '^sender:.+$')))
);
CREATE INDEX "sms_suppressions_shop_id_idx" ON "sms_suppressions"("shop_id") WHERE "shop_id" IS NOT NULL;
ALTER TABLE "sms_suppressions" ADD CONSTRAINT "sms_suppressions_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;
