-- Recipients of campaigns finished longer ago than RECIPIENT_RETENTION_DAYS
-- are deleted by the campaigns.prune-recipients.v1 job
-- (domain/campaigns/prune-campaign-recipients.ts): campaign_recipients held
-- every recipient ever sent, ~250–430 B each, so 100 M of them were kept
-- for stats that no longer change. What the stats and the chart read from
-- those rows is frozen on the campaign first; the rows then go in chunks.

-- Written once each, before any row is deleted (freeze-campaign-recipients.ts):
-- the per-status counts campaign-stats.ts answers with, and the chart's bins
-- at the finest width that keeps the campaign within its bucket bound.
ALTER TABLE "campaigns" ADD COLUMN "recipient_totals" JSONB;
ALTER TABLE "campaigns" ADD COLUMN "recipient_timeseries" JSONB;
-- Set once the last recipient row is gone: the job is done.
ALTER TABLE "campaigns" ADD COLUMN "recipients_pruned_at" TIMESTAMPTZ(3);
ALTER TABLE "campaigns" ADD CONSTRAINT "campaigns_recipients_pruned_check"
  CHECK ("recipients_pruned_at" IS NULL OR ("recipient_totals" IS NOT NULL AND "recipient_timeseries" IS NOT NULL));

-- Reconciliation's question ("finished before the retention window, rows not
-- yet pruned?") reads only finished campaigns not yet pruned, by age.
CREATE INDEX "campaigns_recipient_retention_idx" ON "campaigns" ("last_activity_at")
  WHERE "status" IN ('completed', 'cancelled', 'failed') AND "recipients_pruned_at" IS NULL;
