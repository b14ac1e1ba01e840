-- Shopify refund transactions (refunds/create and order_transactions/create,
-- domain/orders/record-refund.ts): what a campaign or flow earned is its
-- attributed orders' totals net of their successful refund transactions in
-- the order's currency, read when asked (domain/orders/refunded-sql.ts), so
-- a refund that arrives before its order, twice, or succeeds only after a
-- pending refunds/create agrees in the end with one that arrives once, in
-- order.
--
-- One row per refund transaction: its amount in the currency it was paid in,
-- where it stands (pending, failed, success; the furthest state reported
-- wins), the refund it belongs to once refunds/create told, and, for one paid
-- in another currency than the shop's, its part of the refund's shop-money
-- total (shop_currency, shop_amount_minor; Shopify's own figures, never an
-- exchange rate of ours). The key leads with the order, the one lookup stats
-- make.
CREATE TABLE "shopify_refund_transactions" (
    "shop_id" UUID NOT NULL,
    "order_id" TEXT NOT NULL,
    "transaction_id" TEXT NOT NULL,
    "parent_id" TEXT,
    "refund_id" TEXT,
    "currency" TEXT NOT NULL,
    "amount_minor" BIGINT NOT NULL,
    "status" TEXT NOT NULL,
    "shop_currency" TEXT,
    "shop_amount_minor" BIGINT,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),

    CONSTRAINT "shopify_refund_transactions_pkey" PRIMARY KEY ("shop_id", "order_id", "transaction_id"),
    CONSTRAINT "shopify_refund_transactions_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "shopify_refund_transactions_bounds" CHECK (
      length("order_id") <= 64 AND length("transaction_id") <= 96 AND length("parent_id") <= 64 AND length("refund_id") <= 64
      AND "currency" ~ '^[A-Z]{3}$' AND "amount_minor" > 0 AND "status" IN ('pending', 'failed', 'success')),
    CONSTRAINT "shopify_refund_transactions_shop_money" CHECK (
      ("shop_currency" IS NULL) = ("shop_amount_minor" IS NULL)
      AND ("shop_currency" IS NULL OR ("shop_currency" ~ '^[A-Z]{3}$' AND "shop_currency" <> "currency" AND "shop_amount_minor" >= 0)))
);
