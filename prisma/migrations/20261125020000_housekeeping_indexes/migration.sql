-- Housekeeping: shop erasure finds a shop's webhook events without a scan, and
-- the retention passes delete old finished rows in bounded batches by age.
-- All partial, so they cost nothing for rows they do not serve.
CREATE INDEX "webhook_events_shop_idx" ON "webhook_events"("shop_id") WHERE "shop_id" IS NOT NULL;
CREATE INDEX "webhook_events_finished_idx" ON "webhook_events"("received_at") WHERE "status" IN ('processed', 'ignored', 'dropped');
CREATE INDEX "outbox_events_published_idx" ON "outbox_events"("published_at") WHERE "published_at" IS NOT NULL;
