-- One delivery report per request (Mitto's form) used to be one webhook_events
-- row each: the row, its index entries and its later update to `processed`
-- were most of a report's Postgres cost. Reports are now stored in groups (one
-- `status-batch` row per group commit) and this narrow insert-only table keeps
-- the per-report dedup key, so a repeated report is still answered
-- `{"duplicate": true}` and stored once.
CREATE TABLE "delivery_report_keys" (
    "provider" TEXT NOT NULL,
    "event_id" TEXT NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "delivery_report_keys_pkey" PRIMARY KEY ("provider", "event_id"),
    CONSTRAINT "delivery_report_keys_provider_check" CHECK ("provider" LIKE 'sms-%')
);

-- Pruned by age in insertion order (reconciliation): a BRIN index costs next to nothing per insert.
CREATE INDEX "delivery_report_keys_received_at_brin" ON "delivery_report_keys" USING BRIN ("received_at");

-- Reports stored one row each before this keep their dedup key.
INSERT INTO "delivery_report_keys" ("provider", "event_id", "received_at")
SELECT "provider", "event_id", "received_at" FROM "webhook_events"
 WHERE "topic" = 'status' AND "provider" LIKE 'sms-%'
ON CONFLICT DO NOTHING;
