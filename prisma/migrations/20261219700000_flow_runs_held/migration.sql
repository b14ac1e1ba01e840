-- Runs of a flow that is not live (paused by its merchant, or by
-- app/uninstalled) used to stay in flow_runs_due_idx with their past due
-- times: every claim of the scheduler, for every shop, walked past all of
-- them and re-read each one's flow (200 000 held runs: ~1 s a claim, and a
-- few million would reach the statement timeout and stop every shop's flows).
--
-- `held` takes such a run out of the due index. Pausing sets nothing (a
-- million runs in one request's transaction was the same problem again): the
-- scheduler's tick marks, at most a chunk a tick, the runs it finds due at the
-- head of the index whose flow is not live (hold-stopped-runs.ts), so a run is
-- held once instead of being filtered out by every claim. An activation sets
-- `flows.runs_held`, and the ticks give the flow's held runs back to the due
-- index in chunks (on flow_runs_held_idx) until none is left.
-- Each active run is in exactly one of the two partial indexes, so holding
-- adds no index entry per settle; claims touch neither column and stay
-- heap-only.
ALTER TABLE "flow_runs" ADD COLUMN "held" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "flows" ADD COLUMN "runs_held" BOOLEAN NOT NULL DEFAULT false;

DROP INDEX IF EXISTS "flow_runs_due_idx";
CREATE INDEX "flow_runs_due_idx" ON "flow_runs"("next_due_at", "id") WHERE "status" = 'active' AND NOT "held";
CREATE INDEX "flow_runs_held_idx" ON "flow_runs"("flow_id", "next_due_at", "id") WHERE "status" = 'active' AND "held";
CREATE INDEX "flows_runs_held_idx" ON "flows"("id") WHERE "runs_held";
