-- The hashes (contacts' phone_hash: SHA-256 of the E.164 number) of the
-- buyer's numbers an order was read with (domain/orders/buyer-phones.ts), so
-- that an order that came before the contact holding its number is linked
-- when a customers/* webhook creates that contact or gives it the number
-- (domain/orders/link-customer-orders.ts), as one that came before its
-- customer's contact is by the customer id. Hashes only, never the number;
-- cleared with the rest of the order's links by customers/redact and erasure.
-- Rows stored before this have none: their numbers are not known any more.
ALTER TABLE "shopify_orders" ADD COLUMN "buyer_phone_hashes" TEXT[] NOT NULL DEFAULT '{}';
ALTER TABLE "shopify_orders" ADD CONSTRAINT "shopify_orders_buyer_phone_hashes_bounds"
  CHECK (cardinality("buyer_phone_hashes") <= 4);

-- The link step's search: a shop's unlinked orders of no customer that carry
-- a number, newest first (a few a day; an order linked or naming a customer
-- leaves the index).
CREATE INDEX "shopify_orders_unlinked_by_phone_idx" ON "shopify_orders"("shop_id", "ordered_at")
  WHERE "contact_id" IS NULL AND "customer_id" IS NULL AND "buyer_phone_hashes" <> '{}';

-- customers/redact, erasure and the data request find the orders that carry
-- a customer's number (buyer_phone_hashes && their hashes).
CREATE INDEX "shopify_orders_buyer_phone_hashes_idx" ON "shopify_orders" USING GIN ("buyer_phone_hashes")
  WHERE "buyer_phone_hashes" <> '{}';
