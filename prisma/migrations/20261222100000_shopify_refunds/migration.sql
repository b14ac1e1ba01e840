-- Shopify refunds (refunds/create, domain/orders/record-refund.ts): what a
-- campaign or flow earned is its attributed orders' totals net of their
-- successful refunds (never below zero), computed when read
-- (domain/orders/refunded-sql.ts), so a refund that arrives before its order,
-- or twice, agrees in the end with one that arrives after it, once.
-- One row per refund and currency: the sum of the refund's successful
-- `refund` transactions in that currency, in its minor units. The key leads
-- with the order, the one lookup stats make; a redelivered refund (same
-- order, refund id and currency) inserts nothing.
CREATE TABLE "shopify_refunds" (
    "shop_id" UUID NOT NULL,
    "order_id" TEXT NOT NULL,
    "refund_id" TEXT NOT NULL,
    "currency" TEXT NOT NULL,
    "amount_minor" BIGINT NOT NULL,
    "refunded_at" TIMESTAMPTZ(3) NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),

    CONSTRAINT "shopify_refunds_pkey" PRIMARY KEY ("shop_id", "order_id", "refund_id", "currency"),
    CONSTRAINT "shopify_refunds_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "shopify_refunds_bounds" CHECK (
      length("order_id") <= 64 AND length("refund_id") <= 64 AND "currency" ~ '^[A-Z]{3}$' AND "amount_minor" > 0)
);
