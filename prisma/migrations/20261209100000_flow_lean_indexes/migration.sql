-- A flow message is written three times (sending, sent, delivered) and a
-- run at least three (triggered, claimed, settled); a status change cannot
-- be heap-only, so every version adds an entry to every index of its table.
-- These indexes were paid for on each of those writes and served no query:

-- (flow_id, step) is the leading part of flow_messages_flow_stats_idx.
DROP INDEX IF EXISTS "flow_messages_flow_id_step_idx";
-- Nothing reads messages by shop alone: a shop's deletion reaches them
-- through its flows' runs (flow_messages_run_id_step_key).
DROP INDEX IF EXISTS "flow_messages_shop_id_idx";
DROP INDEX IF EXISTS "flow_runs_shop_id_idx";
-- Erasure scrubs only a contact's open messages (status 'sending'), and
-- attribution reads delivered ones (flow_messages_contact_id_sent_at_idx):
-- an entry per open message instead of one per version of every message.
DROP INDEX IF EXISTS "flow_messages_contact_id_idx";
CREATE INDEX "flow_messages_contact_open_idx" ON "flow_messages"("contact_id") WHERE "status" = 'sending';
