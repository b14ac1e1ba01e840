-- Shopify delivers orders/create and the customers/update that raises the
-- customer's orders_count in either order. To tell an order the customer
-- summary alone reports (attributed provisionally) from one already seen
-- here, each contact keeps what the two sources do not yet agree on:
--   orders_uncounted / amount_uncounted_minor: orders seen here (and their
--     amount in the summary currency) that Shopify's figures do not include
--     yet; a rise of Shopify's count takes them first.
--   orders_unseen: orders Shopify's count reported beyond those (after its
--     first count, which is history) whose orders/create has not arrived; the
--     next orders/create is the oldest of them and replaces its provisional
--     attribution.
-- An order is on at most one side, so at most one of the two counts is
-- above zero (domain/orders/ relies on it).
ALTER TABLE "contacts"
  ADD COLUMN "orders_uncounted" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "amount_uncounted_minor" BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN "orders_unseen" INTEGER NOT NULL DEFAULT 0,
  ADD CONSTRAINT "contacts_order_reconcile_check" CHECK (
    "orders_uncounted" >= 0 AND "amount_uncounted_minor" >= 0 AND "orders_unseen" >= 0
    AND ("orders_uncounted" = 0 OR "orders_unseen" = 0)
    AND ("orders_uncounted" > 0 OR "amount_uncounted_minor" = 0));

-- Existing contacts: what the summary counted before (the larger of the two
-- sources) stays what is known, and each provisional attribution held still
-- waits for its orders/create.
UPDATE "contacts"
   SET "orders_uncounted" = "orders_seen" - "shopify_orders_count",
       "amount_uncounted_minor" = GREATEST("amount_seen_minor" - "shopify_amount_spent_minor", 0)
 WHERE "orders_seen" > "shopify_orders_count" AND "erased_at" IS NULL;

UPDATE "contacts" c
   SET "orders_unseen" = p.n
  FROM (SELECT "contact_id", count(*)::int AS n FROM "order_attributions"
         WHERE "source" = 'summary' AND "contact_id" IS NOT NULL GROUP BY "contact_id") p
 WHERE c."id" = p."contact_id" AND c."orders_uncounted" = 0 AND c."erased_at" IS NULL;
