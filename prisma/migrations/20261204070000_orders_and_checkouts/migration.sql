-- Orders and checkouts from Shopify webhooks, and the order summary on each
-- contact that campaign audiences filter on.

-- The summary has two sources, kept apart so that neither double counts:
-- orders seen here (orders/create: +1 per new order id) and Shopify's own
-- figures for the customer (customers/create|update, the bulk sync), which
-- count every order, including those placed before install and, sooner or
-- later, the ones we saw. The summary audiences filter on is the larger of
-- the two, in generated columns, so it can never be written inconsistently
-- and a stale customer record never lowers it. Amounts are minor units of
-- amount_spent_currency (the first currency seen; an amount in another
-- currency is not added, see domain/orders/).
ALTER TABLE "contacts"
  ADD COLUMN "orders_seen" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "amount_seen_minor" BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN "shopify_orders_count" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "shopify_amount_spent_minor" BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN "amount_spent_currency" TEXT,
  ADD COLUMN "last_order_at" TIMESTAMPTZ(3),
  ADD COLUMN "orders_count" INTEGER NOT NULL GENERATED ALWAYS AS (GREATEST("orders_seen", "shopify_orders_count")) STORED,
  ADD COLUMN "amount_spent_minor" BIGINT NOT NULL GENERATED ALWAYS AS (GREATEST("amount_seen_minor", "shopify_amount_spent_minor")) STORED,
  ADD CONSTRAINT "contacts_order_summary_check" CHECK (
    "orders_seen" >= 0 AND "amount_seen_minor" >= 0 AND "shopify_orders_count" >= 0 AND "shopify_amount_spent_minor" >= 0),
  ADD CONSTRAINT "contacts_amount_spent_currency_check" CHECK ("amount_spent_currency" ~ '^[A-Z]{3}$');

-- An audience with order filters is counted and bounded by one pass over the
-- shop's sendable contacts in this index (the filter columns are in it, so
-- only matching rows visit the heap for their names).
CREATE INDEX "contacts_order_summary_idx" ON "contacts"("shop_id", "last_order_at", "orders_count", "amount_spent_minor")
  WHERE "sms_consent" = 'subscribed' AND "opted_out_at" IS NULL AND "erased_at" IS NULL;

-- One row per Shopify order: what attribution needs, nothing more (no line
-- items, addresses or emails). Unique per shop, so a second delivery of the
-- same order inserts nothing and the summary moves once.
CREATE TABLE "shopify_orders" (
    "shop_id" UUID NOT NULL,
    "order_id" TEXT NOT NULL,
    "customer_id" TEXT,
    "contact_id" UUID,
    "total_minor" BIGINT NOT NULL,
    "currency" TEXT NOT NULL,
    "ordered_at" TIMESTAMPTZ(3) NOT NULL,
    "landing_site" TEXT,
    "referring_site" TEXT,
    "source_name" TEXT,
    "discount_codes" TEXT[] NOT NULL DEFAULT '{}',
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),

    CONSTRAINT "shopify_orders_pkey" PRIMARY KEY ("shop_id", "order_id"),
    CONSTRAINT "shopify_orders_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "shopify_orders_contact_id_fkey" FOREIGN KEY ("contact_id") REFERENCES "contacts"("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "shopify_orders_bounds" CHECK (
      length("order_id") <= 64 AND length("customer_id") <= 64 AND "total_minor" >= 0 AND "currency" ~ '^[A-Z]{3}$'
      AND length("landing_site") <= 2048 AND length("referring_site") <= 2048 AND length("source_name") <= 100
      AND cardinality("discount_codes") <= 20)
);
CREATE INDEX "shopify_orders_contact_idx" ON "shopify_orders"("contact_id") WHERE "contact_id" IS NOT NULL;
CREATE INDEX "shopify_orders_customer_idx" ON "shopify_orders"("shop_id", "customer_id") WHERE "customer_id" IS NOT NULL;

-- One row per Shopify checkout (token), for abandoned-checkout automations.
-- The newest update wins (guarded by shopify_updated_at).
CREATE TABLE "shopify_checkouts" (
    "shop_id" UUID NOT NULL,
    "token" TEXT NOT NULL,
    "customer_id" TEXT,
    "contact_id" UUID,
    "phone_e164" TEXT,
    "phone_hash" TEXT,
    "abandoned_checkout_url" TEXT,
    "shopify_updated_at" TIMESTAMPTZ(3) NOT NULL,
    "completed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),

    CONSTRAINT "shopify_checkouts_pkey" PRIMARY KEY ("shop_id", "token"),
    CONSTRAINT "shopify_checkouts_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "shopify_checkouts_contact_id_fkey" FOREIGN KEY ("contact_id") REFERENCES "contacts"("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "shopify_checkouts_bounds" CHECK (
      length("token") <= 128 AND length("customer_id") <= 64 AND length("phone_e164") <= 16 AND length("phone_hash") <= 64
      AND length("abandoned_checkout_url") <= 2048)
);
CREATE INDEX "shopify_checkouts_contact_idx" ON "shopify_checkouts"("contact_id") WHERE "contact_id" IS NOT NULL;
CREATE INDEX "shopify_checkouts_customer_idx" ON "shopify_checkouts"("shop_id", "customer_id") WHERE "customer_id" IS NOT NULL;
CREATE INDEX "shopify_checkouts_phone_idx" ON "shopify_checkouts"("shop_id", "phone_hash") WHERE "phone_hash" IS NOT NULL;
