-- Tracked short links, clicks and order attribution (issue #16, items 1-2).
-- docs/architecture.md, "Links, clicks and attribution".

-- A campaign's number inside its short links: codes carry it, so a redirect
-- finds the campaign (and its links, cached) without reading any recipient
-- row. Never reused, never changed.
ALTER TABLE "campaigns" ADD COLUMN "link_no" BIGSERIAL NOT NULL;
CREATE UNIQUE INDEX "campaigns_link_no_key" ON "campaigns"("link_no");

-- Attribution windows, per shop (PATCH /api/shop). A view window of 0 turns
-- view-through attribution off; the click window cannot be turned off.
ALTER TABLE "shops"
  ADD COLUMN "click_window_hours" INTEGER NOT NULL DEFAULT 120,
  ADD COLUMN "view_window_hours" INTEGER NOT NULL DEFAULT 24,
  ADD CONSTRAINT "shops_attribution_windows_check" CHECK (
    "click_window_hours" BETWEEN 1 AND 720 AND "view_window_hours" BETWEEN 0 AND 168);

-- The campaign messages a contact received, for view-through attribution
-- (the campaign last delivered to the customer who ordered). contact_id never
-- changes (trigger), so status updates stay HOT; launches insert in contact
-- order and the key repeats once per campaign, which B-tree deduplication
-- packs (docs/performance.md, "Storage").
CREATE INDEX "campaign_recipients_contact_id_idx" ON "campaign_recipients"("contact_id");

-- One row per redirect of a valid code, written in batches by the api's
-- click buffer (never on the request path). The id is made when the request
-- is answered, so a flush that is retried inserts nothing twice. `first`
-- marks a recipient's first human click (unique, so unique clicks are a
-- count); bots and link previews are kept (bot = true) but never count.
CREATE TABLE "link_clicks" (
    "id" UUID NOT NULL,
    "shop_id" UUID NOT NULL,
    "campaign_id" UUID NOT NULL,
    "recipient_id" BIGINT NOT NULL,
    "contact_id" UUID,
    "link_index" SMALLINT NOT NULL,
    "clicked_at" TIMESTAMPTZ(3) NOT NULL,
    "ua_class" TEXT NOT NULL,
    "bot" BOOLEAN NOT NULL,
    "first" BOOLEAN NOT NULL DEFAULT false,
    "recorded_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),

    CONSTRAINT "link_clicks_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "link_clicks_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "link_clicks_campaign_id_fkey" FOREIGN KEY ("campaign_id") REFERENCES "campaigns"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "link_clicks_contact_id_fkey" FOREIGN KEY ("contact_id") REFERENCES "contacts"("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "link_clicks_bounds" CHECK (
      "link_index" BETWEEN 0 AND 61 AND "ua_class" IN ('ios', 'android', 'desktop', 'other', 'preview', 'crawler', 'prefetch', 'head', 'no_agent')
      AND NOT ("first" AND "bot"))
);
CREATE INDEX "link_clicks_campaign_id_idx" ON "link_clicks"("campaign_id");
CREATE UNIQUE INDEX "link_clicks_first_key" ON "link_clicks"("recipient_id") WHERE "first";
-- The last human click of a contact before an order (attribution).
CREATE INDEX "link_clicks_contact_idx" ON "link_clicks"("shop_id", "contact_id", "clicked_at") WHERE NOT "bot" AND "contact_id" IS NOT NULL;

-- At most one campaign per order (the primary key), and only a campaign of
-- the same shop whose message the customer received: clicked (kind 'click')
-- or delivered (kind 'view') within the shop's window before the order.
-- `source` says where the order came from: an orders/create webhook
-- ('order', order_id is Shopify's) or a rise of the customer's order count
-- in Shopify's summary with no order seen ('summary', order_id is
-- 'summary:<customer id>:<count>', no amount known). Kept when the order row
-- is redacted (no personal data here), so a campaign's revenue stays.
CREATE TABLE "order_attributions" (
    "shop_id" UUID NOT NULL,
    "order_id" TEXT NOT NULL,
    "campaign_id" UUID NOT NULL,
    "contact_id" UUID,
    "kind" TEXT NOT NULL,
    "source" TEXT NOT NULL DEFAULT 'order',
    "click_id" UUID,
    "total_minor" BIGINT NOT NULL,
    "currency" TEXT NOT NULL,
    "ordered_at" TIMESTAMPTZ(3) NOT NULL,
    "attributed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),

    CONSTRAINT "order_attributions_pkey" PRIMARY KEY ("shop_id", "order_id"),
    CONSTRAINT "order_attributions_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "order_attributions_campaign_id_fkey" FOREIGN KEY ("campaign_id") REFERENCES "campaigns"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "order_attributions_contact_id_fkey" FOREIGN KEY ("contact_id") REFERENCES "contacts"("id") ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT "order_attributions_bounds" CHECK (
      "kind" IN ('click', 'view') AND "source" IN ('order', 'summary') AND length("order_id") <= 100 AND ("kind" = 'click') = ("click_id" IS NOT NULL)
      AND "total_minor" >= 0 AND "currency" ~ '^[A-Z]{3}$')
);
CREATE INDEX "order_attributions_campaign_id_idx" ON "order_attributions"("campaign_id");
