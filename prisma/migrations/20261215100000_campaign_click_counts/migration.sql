-- A campaign's click figures, kept as they are written instead of counted on
-- every read: the stats and the campaigns list (polled every few seconds by
-- the admin) counted every click of every campaign they showed, one
-- link_clicks row each (docs/performance.md, "Next", item 5).
CREATE TABLE "campaign_click_counts" (
    "campaign_id" UUID NOT NULL,
    "shop_id" UUID NOT NULL,
    -- Human clicks (not bot), first human clicks (one per recipient), bot clicks.
    "clicks" BIGINT NOT NULL DEFAULT 0,
    "unique_clicks" BIGINT NOT NULL DEFAULT 0,
    "bot_clicks" BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT "campaign_click_counts_pkey" PRIMARY KEY ("campaign_id")
);
ALTER TABLE "campaign_click_counts" ADD CONSTRAINT "campaign_click_counts_campaign_id_fkey" FOREIGN KEY ("campaign_id") REFERENCES "campaigns"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Kept by the database, whichever code inserts the clicks: the rows one
-- statement inserted, summed per campaign, added in campaign order (so
-- concurrent flushes lock the counters in the same order). A click row is
-- deleted only with its campaign, which takes its counters along, and no
-- writer changes a click's campaign, bot or first flag (the guard below).
CREATE FUNCTION "link_clicks_campaign_counts"() RETURNS TRIGGER LANGUAGE plpgsql AS $fn$
BEGIN
  INSERT INTO campaign_click_counts AS k (campaign_id, shop_id, clicks, unique_clicks, bot_clicks)
  SELECT n.campaign_id, min(n.shop_id::text)::uuid,
         count(*) FILTER (WHERE NOT n.bot), count(*) FILTER (WHERE n.first), count(*) FILTER (WHERE n.bot)
    FROM new_rows n
   WHERE n.campaign_id IS NOT NULL
   GROUP BY n.campaign_id
   ORDER BY n.campaign_id
  ON CONFLICT (campaign_id) DO UPDATE SET
    clicks = k.clicks + EXCLUDED.clicks,
    unique_clicks = k.unique_clicks + EXCLUDED.unique_clicks,
    bot_clicks = k.bot_clicks + EXCLUDED.bot_clicks;
  RETURN NULL;
END
$fn$;
CREATE TRIGGER "link_clicks_campaign_counts" AFTER INSERT ON "link_clicks"
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "link_clicks_campaign_counts"();

CREATE FUNCTION "link_clicks_counted_columns_fixed"() RETURNS TRIGGER LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'link_clicks: campaign_id, bot and first are fixed once written (campaign_click_counts counts them)'
    USING ERRCODE = 'check_violation';
END
$fn$;
CREATE TRIGGER "link_clicks_counted_columns_fixed" BEFORE UPDATE OF "campaign_id", "bot", "first" ON "link_clicks"
  FOR EACH ROW WHEN (OLD.campaign_id IS DISTINCT FROM NEW.campaign_id OR OLD.bot IS DISTINCT FROM NEW.bot OR OLD.first IS DISTINCT FROM NEW.first)
  EXECUTE FUNCTION "link_clicks_counted_columns_fixed"();

-- The clicks already written, counted once; inserts wait meanwhile, so none
-- is counted twice or missed.
LOCK TABLE "link_clicks" IN SHARE MODE;
INSERT INTO campaign_click_counts (campaign_id, shop_id, clicks, unique_clicks, bot_clicks)
SELECT campaign_id, min(shop_id::text)::uuid, count(*) FILTER (WHERE NOT bot), count(*) FILTER (WHERE first), count(*) FILTER (WHERE bot)
  FROM link_clicks
 WHERE campaign_id IS NOT NULL
 GROUP BY campaign_id;
