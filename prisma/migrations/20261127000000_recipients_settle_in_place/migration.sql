-- A recipient row is written twice: inserted `pending` by the launch, updated
-- once by the settle (docs/performance.md, "Storage"). The claim moves to the
-- batch row, and the settle's update is HOT: no index of campaign_recipients
-- names a column it writes, and the page keeps room for the new version, so
-- it adds neither a page nor an index entry.

-- The claim of a batch: token, lease and attempt number, on one row per batch
-- instead of one write per recipient.
ALTER TABLE "campaign_batches"
    ADD COLUMN "claim_token" UUID,
    ADD COLUMN "lease_until" TIMESTAMPTZ(3),
    ADD COLUMN "attempt" SMALLINT NOT NULL DEFAULT 0,
    ADD CONSTRAINT "campaign_batches_claim_check" CHECK (("claim_token" IS NULL) = ("lease_until" IS NULL)),
    ADD CONSTRAINT "campaign_batches_attempt_check" CHECK ("attempt" >= 0);

-- campaign_recipients is rebuilt for two things ALTER TABLE cannot do:
--  * column order: fixed-width columns first, so a sent row has no alignment
--    padding (8 bytes less per row version);
--  * fillfactor 42: the launch fills a page to 42 %, which leaves room for the
--    settled version of every row on it (a 92-byte pending row and a ~116-byte
--    sent one with a provider id of up to ~26 characters, 37 rows a page), so
--    every settle is a heap-only update on the same page. A provider with
--    longer ids needs a lower fillfactor (40 holds 36-character UUIDs):
--    `ALTER TABLE campaign_recipients SET (fillfactor = 40)` needs no rewrite and
--    applies to rows inserted afterwards. Rows that do not fit are still
--    settled, as ordinary updates that write a new page and index entries.
-- Its sequence, constraints and status trigger are kept.
ALTER SEQUENCE "campaign_recipients_id_seq" OWNED BY NONE;

CREATE TABLE "campaign_recipients_new" (
    "id" BIGINT NOT NULL DEFAULT nextval('campaign_recipients_id_seq'::regclass),
    "sent_at" TIMESTAMPTZ(3),
    "final_at" TIMESTAMPTZ(3),
    "lease_until" TIMESTAMPTZ(3),
    "campaign_id" UUID NOT NULL,
    "contact_id" UUID NOT NULL,
    "claim_token" UUID,
    "batch_no" INTEGER NOT NULL,
    "attempt" SMALLINT NOT NULL DEFAULT 0,
    "segments" SMALLINT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "provider_message_id" TEXT,
    "error_code" TEXT
) WITH (fillfactor = 42);

INSERT INTO "campaign_recipients_new" ("id", "sent_at", "final_at", "lease_until", "campaign_id", "contact_id", "claim_token", "batch_no",
                                       "attempt", "segments", "status", "provider_message_id", "error_code")
SELECT "id", "sent_at", "final_at", "lease_until", "campaign_id", "contact_id", "claim_token", "batch_no",
       "attempt", "segments", "status", "provider_message_id", "error_code"
  FROM "campaign_recipients" ORDER BY "id";

DROP TABLE "campaign_recipients";
ALTER TABLE "campaign_recipients_new" RENAME TO "campaign_recipients";
ALTER SEQUENCE "campaign_recipients_id_seq" OWNED BY "campaign_recipients"."id";

ALTER TABLE "campaign_recipients"
    ADD CONSTRAINT "campaign_recipients_pkey" PRIMARY KEY ("id"),
    ADD CONSTRAINT "campaign_recipients_status_check" CHECK ("status" IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'skipped', 'cancelled', 'unknown')),
    -- A row in `sending` is a claim of its own (rows an earlier attempt may
    -- have sent, to be re-sent with the same reference): token and lease.
    ADD CONSTRAINT "campaign_recipients_claim_check" CHECK ("status" <> 'sending' OR ("claim_token" IS NOT NULL AND "lease_until" IS NOT NULL)),
    ADD CONSTRAINT "campaign_recipients_sent_check" CHECK ("status" NOT IN ('sent', 'delivered') OR ("provider_message_id" IS NOT NULL AND "segments" IS NOT NULL)),
    ADD CONSTRAINT "campaign_recipients_segments_check" CHECK ("segments" IS NULL OR "segments" > 0),
    ADD CONSTRAINT "campaign_recipients_attempt_check" CHECK ("attempt" >= 0);
-- A campaign's rows, and a batch's (claim, settle, progress checks, stats,
-- cancel, the one-recipient-per-contact check below). Neither column ever
-- changes, so it costs the settle nothing; the rows of a batch share one key,
-- which btree deduplication stores as a posting list: ~8 bytes a row.
CREATE INDEX "campaign_recipients_campaign_id_batch_no_idx" ON "campaign_recipients"("campaign_id", "batch_no");

-- One recipient per contact and campaign, checked by a statement-level
-- trigger rather than a unique index on (campaign_id, contact_id). Campaign
-- ids are random, so every launch inserts its keys into the middle of such an
-- index, where each page split is 50/50 (Postgres packs pages on ascending
-- inserts only at the right edge, or for keys of at most 16 bytes): 90 bytes a
-- recipient as written, a third of the budget. The check serialises the
-- writers of a campaign on an advisory lock, then looks at all its rows with
-- a snapshot taken after the lock, which READ COMMITTED gives each statement
-- (so other isolation levels are refused). Recipients are written by one
-- statement per campaign (the launch), so this costs one pass over the
-- campaign's rows per launch.
CREATE FUNCTION "campaign_recipients_one_per_contact"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
  c UUID;
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'campaign_recipients rows are inserted at READ COMMITTED only (its one-recipient-per-contact check needs a snapshot taken after its lock)'
      USING ERRCODE = 'feature_not_supported';
  END IF;
  FOR c IN SELECT DISTINCT "campaign_id" FROM inserted ORDER BY 1 LOOP
    PERFORM pg_advisory_xact_lock(hashtextextended('campaign_recipients:' || c::text, 0));
    IF EXISTS (SELECT 1 FROM "campaign_recipients" WHERE "campaign_id" = c GROUP BY "contact_id" HAVING count(*) > 1) THEN
      RAISE EXCEPTION 'campaign % already has a recipient for one of these contacts', c
        USING ERRCODE = 'unique_violation', CONSTRAINT = 'campaign_recipients_campaign_id_contact_id_key';
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;
CREATE TRIGGER "campaign_recipients_one_per_contact" AFTER INSERT ON "campaign_recipients"
  REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION "campaign_recipients_one_per_contact"();
-- A row never changes campaign or contact, so the check above covers updates.
CREATE FUNCTION "campaign_recipients_fixed_keys"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'campaign_recipients.campaign_id and contact_id never change' USING ERRCODE = 'check_violation';
END
$$;
CREATE TRIGGER "campaign_recipients_fixed_keys" BEFORE UPDATE OF "campaign_id", "contact_id" ON "campaign_recipients"
  FOR EACH ROW WHEN (OLD."campaign_id" IS DISTINCT FROM NEW."campaign_id" OR OLD."contact_id" IS DISTINCT FROM NEW."contact_id")
  EXECUTE FUNCTION "campaign_recipients_fixed_keys"();
-- Gone on purpose, because each named a column the settle writes (which makes
-- every settle a non-HOT update: a new row version on another page plus an
-- entry in every index):
--  * campaign_recipients_open_idx (campaign_id, batch_no) WHERE status IN
--    ('pending', 'sending'): the same index without the predicate serves;
--  * campaign_recipients_provider_message_id_key: a delivery report finds its
--    recipient by our client reference (`r<id>`, sent with every message and
--    echoed in the report) through the primary key, and checks the provider
--    id against the row; a report without our reference is matched by
--    provider id among recently active campaigns only
--    (domain/webhooks/delivery-report-recipient.ts).

CREATE TRIGGER "campaign_recipients_forward_only" BEFORE UPDATE OF "status" ON "campaign_recipients"
  FOR EACH ROW EXECUTE FUNCTION "campaign_recipients_forward_only"();

ANALYZE "campaign_recipients";
