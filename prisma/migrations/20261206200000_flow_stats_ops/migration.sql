-- Flow stats, reconciliation and operations (issue 17, items 4-5; docs/flows.md
-- "Stats" and "Operations").

-- Per flow figures without reading the runs: one index-only range scan per
-- flow answers runs by status, exit reason and step (stats), the due backlog
-- by step and its oldest due time (ops, the lag gauge: the first entry of
-- (flow, 'active')). A claim changes none of these columns, so claims stay
-- HOT updates; a settle already moves next_due_at (flow_runs_due_idx).
CREATE INDEX "flow_runs_flow_stats_idx" ON "flow_runs"("flow_id", "status", "next_due_at", "current_step", "exit_reason");

-- Messages per flow and step by status and skip reason, with their credits,
-- from the index alone.
CREATE INDEX "flow_messages_flow_stats_idx" ON "flow_messages"("flow_id", "step", "status", "skip_reason", "credits");

-- A flows.trigger.v1 event is "consumed" once every part's job has run
-- (the job records its part, under the row's lock, so parts finishing
-- together count each once). Reconciliation republishes the events of the
-- last hours that were published but never consumed: their job was lost
-- with Redis, or failed past its attempts. Only unconsumed flow events are in
-- the index, so that pass reads nothing else.
ALTER TABLE "outbox_events"
  ADD COLUMN "consumed_at" TIMESTAMPTZ(3),
  ADD COLUMN "consumed_parts" JSONB NOT NULL DEFAULT '[]',
  ADD CONSTRAINT "outbox_events_consumed_parts_check" CHECK (jsonb_typeof("consumed_parts") = 'array' AND jsonb_array_length("consumed_parts") <= 1000);
CREATE INDEX "outbox_events_flow_trigger_unconsumed_idx" ON "outbox_events"("published_at")
  WHERE "event_type" = 'flows.trigger.v1' AND "consumed_at" IS NULL AND "published_at" IS NOT NULL;
