-- A flow message's first human click (20261207100000_flow_tracked_links) is
-- indexed only for flow clicks: a campaign recipient's first click no longer
-- writes a NULL entry into it, so the campaigns' click flush maintains the
-- indexes it maintained before flow links existed.
DROP INDEX "link_clicks_flow_first_key";
CREATE UNIQUE INDEX "link_clicks_flow_first_key" ON "link_clicks"("flow_message_id") WHERE "first" AND "flow_message_id" IS NOT NULL;
