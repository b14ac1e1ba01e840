-- Orders attributed to flow messages (issue 17, item 4; docs/flows.md "Stats").
-- An order is still attributed at most once (the primary key), now to a
-- campaign OR a flow: the campaign whose link the customer clicked last within
-- the click window, else whichever message was delivered to them last within
-- the view window — a campaign's or a flow's (domain/orders/attribute-order.ts).
-- Flow messages carry no tracked links yet, so a flow attribution is a view.
-- It goes with its flow (as a campaign's goes with its campaign) and keeps
-- counting for the flow if its message row goes (the step is then unknown).
ALTER TABLE "order_attributions"
  ALTER COLUMN "campaign_id" DROP NOT NULL,
  ADD COLUMN "flow_id" UUID,
  ADD COLUMN "flow_message_id" BIGINT,
  ADD CONSTRAINT "order_attributions_target_check" CHECK (
    ("campaign_id" IS NULL) <> ("flow_id" IS NULL)
    AND ("flow_message_id" IS NULL OR "flow_id" IS NOT NULL)
    AND ("flow_id" IS NULL OR "kind" = 'view')),
  ADD CONSTRAINT "order_attributions_flow_id_fkey" FOREIGN KEY ("flow_id") REFERENCES "flows"("id") ON DELETE CASCADE ON UPDATE CASCADE,
  ADD CONSTRAINT "order_attributions_flow_message_id_fkey" FOREIGN KEY ("flow_message_id") REFERENCES "flow_messages"("id") ON DELETE SET NULL ON UPDATE CASCADE;
-- A flow's attributed orders (stats).
CREATE INDEX "order_attributions_flow_id_idx" ON "order_attributions"("flow_id");
-- The flow messages delivered to a contact, newest first (view-through attribution).
CREATE INDEX "flow_messages_contact_id_sent_at_idx" ON "flow_messages"("contact_id", "sent_at") WHERE "status" = 'delivered';
