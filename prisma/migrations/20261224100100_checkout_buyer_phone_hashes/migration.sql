-- A checkout is read with up to four buyer numbers (its own and its
-- customer's, else the billing and shipping address's:
-- domain/orders/buyer-phones.ts), any of which may be the one that links it
-- to a contact, and its stored payload keeps them all; phone_e164/phone_hash
-- keep only the most trusted. The hashes of all of them, so that a
-- customers/redact, a data request or an erasure by any of those numbers
-- finds the checkout, as it finds the payload.
ALTER TABLE "shopify_checkouts" ADD COLUMN "buyer_phone_hashes" TEXT[] NOT NULL DEFAULT '{}';
ALTER TABLE "shopify_checkouts" ADD CONSTRAINT "shopify_checkouts_buyer_phone_hashes_bounds"
  CHECK (cardinality("buyer_phone_hashes") <= 4);

-- Rows stored before: the one number kept is all that is known.
UPDATE "shopify_checkouts" SET "buyer_phone_hashes" = ARRAY["phone_hash"] WHERE "phone_hash" IS NOT NULL;

CREATE INDEX "shopify_checkouts_buyer_phone_hashes_idx" ON "shopify_checkouts" USING GIN ("buyer_phone_hashes")
  WHERE "buyer_phone_hashes" <> '{}';
