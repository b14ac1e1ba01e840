-- One outbox row whose publish threw (a payload its job schema refuses) used
-- to stop every dispatcher pass at that row: nothing after it in
-- (available_at, id) order was published again by the dispatcher.
--
-- A failed publish is now recorded on its row and retried with bounded
-- exponential backoff (`next_attempt_at`; `available_at` stays the event's
-- own time: a scheduled launch's delay is computed from it). A row that can
-- never be published (its payload fails the job's schema, on every attempt up
-- to the bound) is set aside as dead (`dead_at`) until an operator replays it
-- (docs/runbooks/outbox.md). `last_error` is a short description (error
-- class, zod paths, a truncated message): never payload values.
ALTER TABLE "outbox_events"
  ADD COLUMN "next_attempt_at" TIMESTAMPTZ(3),
  ADD COLUMN "last_error" TEXT,
  ADD COLUMN "dead_at" TIMESTAMPTZ(3),
  ADD CONSTRAINT "outbox_events_last_error_check" CHECK (char_length("last_error") <= 300),
  -- A published row is not dead (publishing clears it).
  ADD CONSTRAINT "outbox_events_dead_check" CHECK ("dead_at" IS NULL OR "published_at" IS NULL);

-- The dispatcher's scan: dead rows leave the index, so they cost the pass
-- nothing; rows waiting for their retry are few and filtered in the scan.
DROP INDEX IF EXISTS "outbox_events_unpublished_idx";
CREATE INDEX "outbox_events_unpublished_idx" ON "outbox_events"("available_at", "id") WHERE "published_at" IS NULL AND "dead_at" IS NULL;
-- outbox_dead (read at scrape) and the runbook's listing.
CREATE INDEX "outbox_events_dead_idx" ON "outbox_events"("dead_at", "id") WHERE "dead_at" IS NOT NULL;
