-- The delivery-report drain polls for the oldest open reports of a topic
-- ('status' or 'status-batch') many times a second. Through
-- webhook_events_open_idx it took a bitmap scan that visited every row the
-- index still listed, and an index lists a processed row until VACUUM
-- removes it: on a 1 M campaign each poll read ~2 500 heap pages (9 ms) and
-- the polls cost Postgres ~29 s of the run. Keyed by topic, then arrival
-- order, a plain index scan stops after the rows it returns and marks the
-- dead entries it passes so later scans skip them.
CREATE INDEX "webhook_events_report_drain_idx" ON "webhook_events"("topic", "received_at", "id") WHERE "status" = 'received' AND "last_error" IS NULL;
