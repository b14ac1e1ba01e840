-- The claim of due runs reads them in (next_due_at, id) order and the next
-- claim of the same tick seeks past the last one it took (claim-due-runs.ts):
-- the id in the key makes that a seek, not a walk over every run claimed so
-- far. The id never changes, so the index costs no more writes than before.
DROP INDEX IF EXISTS "flow_runs_due_idx";
CREATE INDEX "flow_runs_due_idx" ON "flow_runs"("next_due_at", "id") WHERE "status" = 'active';
