-- DELETE /api/flows/:id marks the flow deleted and hands its history to the
-- flows.delete.v1 job (domain/flows/erase-deleted-flow.ts), which deletes it
-- in bounded chunks, the flow row last. Deleting the row in the request's
-- transaction cascaded to every run, message, click and attribution of the
-- flow: ~300 000 runs reached the 5 s bound, so a flow with a long history
-- could never be deleted.

-- Set (never cleared) with status 'deleted' in the request's transaction; no
-- reader sees such a flow, and reconciliation re-adds the job of any flow
-- still here a few minutes after this time.
ALTER TABLE "flows" ADD COLUMN "deleted_at" TIMESTAMPTZ(3);
ALTER TABLE "flows" DROP CONSTRAINT "flows_status_check";
ALTER TABLE "flows" ADD CONSTRAINT "flows_status_check" CHECK ("status" IN ('draft', 'live', 'paused', 'deleted'));
ALTER TABLE "flows" ADD CONSTRAINT "flows_deleted_check" CHECK (("status" = 'deleted') = ("deleted_at" IS NOT NULL));
-- A draft may be deleted, and a draft may lack a version.
ALTER TABLE "flows" DROP CONSTRAINT "flows_live_has_version_check";
ALTER TABLE "flows" ADD CONSTRAINT "flows_live_has_version_check" CHECK ("status" IN ('draft', 'deleted') OR "current_version_id" IS NOT NULL);
-- Reconciliation's question ("deleted minutes ago, still here?") reads only these.
CREATE INDEX "flows_deleted_at_idx" ON "flows" ("deleted_at") WHERE "deleted_at" IS NOT NULL;
