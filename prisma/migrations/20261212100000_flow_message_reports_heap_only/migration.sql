-- A flow message's delivery report as a heap-only update (docs/performance.md
-- "Tenth round"). The report moves `sent` to `delivered` or `undelivered`
-- and sets final_at and delivered_at; Postgres can keep the new version on
-- the same page without touching any index only if no index names a column
-- the update changes, in its key or in its WHERE. Four indexes named the
-- status, so every report wrote a new entry into each of them (about 660 B
-- of WAL per report, 2.6 s of statement time per 100 000-run burst).

-- Attribution reads a contact's delivered messages by sent_at: the index now
-- holds every message that went out (sent_at is written once, at the send),
-- and the query checks the status on the row.
DROP INDEX IF EXISTS "flow_messages_contact_id_sent_at_idx";
CREATE INDEX "flow_messages_contact_id_sent_at_idx" ON "flow_messages"("contact_id", "sent_at") WHERE "sent_at" IS NOT NULL;

-- Open (`sending`) messages, for erasure and for the orphan repair: named by
-- columns a report never changes. A `sending` row has no sent_at, no skip
-- reason and no error code (the CHECK below makes that a rule, so a query
-- that adds these conditions to `status = 'sending'` misses no open row);
-- the few failed or unknown rows without a code that the predicate also
-- admits are filtered on the row.
ALTER TABLE "flow_messages" ADD CONSTRAINT "flow_messages_open_check" CHECK ("status" <> 'sending' OR ("sent_at" IS NULL AND "error_code" IS NULL));
DROP INDEX IF EXISTS "flow_messages_contact_open_idx";
CREATE INDEX "flow_messages_contact_open_idx" ON "flow_messages"("contact_id") WHERE "sent_at" IS NULL AND "skip_reason" IS NULL AND "error_code" IS NULL;
DROP INDEX IF EXISTS "flow_messages_sending_idx";
CREATE INDEX "flow_messages_sending_idx" ON "flow_messages"("created_at") WHERE "sent_at" IS NULL AND "skip_reason" IS NULL AND "error_code" IS NULL;

-- The flow stats read a flow's messages through (flow_id, step) and take the
-- status and credits from the rows: no longer an index-only scan (measured in
-- docs/flows.md "Stats").
DROP INDEX IF EXISTS "flow_messages_flow_stats_idx";
CREATE INDEX "flow_messages_flow_stats_idx" ON "flow_messages"("flow_id", "step");

-- Room on each page for its rows' report versions: a callback's reports are
-- applied in one transaction, so the versions they replace cannot be pruned
-- before it commits, and a delivered version is ~20 B longer than the sent
-- one (two timestamps, a longer status). At 75 % about a quarter of a burst's
-- reports stayed on their page, at 50 % 87 % (measured); 45 leaves room for
-- all. Applies to pages written from now on; no rewrite.
ALTER TABLE "flow_messages" SET (fillfactor = 45);
