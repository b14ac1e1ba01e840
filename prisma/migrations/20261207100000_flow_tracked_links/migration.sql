-- Tracked short links in flow messages (issue 17 item 4 + issue 16 item 1;
-- docs/flows.md "Links and clicks", docs/architecture.md "Links, clicks and
-- attribution").

-- A flow version's number inside its messages' short links, drawn from the
-- campaigns' sequence: a code's first five characters name a campaign or a
-- flow version, never both. A code's recipient part is the flow message id
-- and its step (link-code.ts). Filled for existing versions (no UPDATE:
-- versions are immutable, and adding a column is not an update).
ALTER TABLE "flow_versions" ADD COLUMN "link_no" BIGINT NOT NULL DEFAULT nextval('campaigns_link_no_seq');
CREATE UNIQUE INDEX "flow_versions_link_no_key" ON "flow_versions"("link_no");

-- A click names a campaign recipient (campaign_id, recipient_id) or a flow
-- message (flow_id, flow_message_id, step): exactly one. flow_message_id is a
-- plain reference, like recipient_id (no foreign key: deleting a flow's
-- million messages must not probe this table per row); the flow is a foreign
-- key, so a deleted flow takes its clicks along.
ALTER TABLE "link_clicks"
  ALTER COLUMN "campaign_id" DROP NOT NULL,
  ALTER COLUMN "recipient_id" DROP NOT NULL,
  ADD COLUMN "flow_id" UUID,
  ADD COLUMN "flow_message_id" BIGINT,
  ADD COLUMN "step" SMALLINT,
  ADD CONSTRAINT "link_clicks_target_check" CHECK (
    ("campaign_id" IS NULL) <> ("flow_message_id" IS NULL)
    AND ("campaign_id" IS NULL) = ("recipient_id" IS NULL)
    AND ("flow_message_id" IS NULL) = ("flow_id" IS NULL)
    AND ("flow_message_id" IS NULL) = ("step" IS NULL)
    AND ("step" IS NULL OR "step" BETWEEN 0 AND 19)),
  ADD CONSTRAINT "link_clicks_flow_id_fkey" FOREIGN KEY ("flow_id") REFERENCES "flows"("id") ON DELETE CASCADE ON UPDATE CASCADE;
-- A flow message's first human click, once (as link_clicks_first_key for recipients).
CREATE UNIQUE INDEX "link_clicks_flow_first_key" ON "link_clicks"("flow_message_id") WHERE "first";
-- Flow stats: clicks and unique clicks per step, index-only; also the flow's
-- foreign key (a deleted flow's clicks). Campaign clicks are not in it.
CREATE INDEX "link_clicks_flow_stats_idx" ON "link_clicks"("flow_id", "step") INCLUDE ("bot", "first") WHERE "flow_id" IS NOT NULL;

-- An order may now be attributed to a flow message by a click too.
ALTER TABLE "order_attributions"
  DROP CONSTRAINT "order_attributions_target_check",
  ADD CONSTRAINT "order_attributions_target_check" CHECK (
    ("campaign_id" IS NULL) <> ("flow_id" IS NULL)
    AND ("flow_message_id" IS NULL OR "flow_id" IS NOT NULL));
