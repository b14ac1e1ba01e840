-- Chunked launch (docs/architecture.md, "Sending"): the audience is
-- materialised in keyset chunks over contact ids, each chunk's send jobs
-- enqueued as soon as it commits, so sending starts while the launch goes on.
--
-- launch_cursor: the largest contact id among the campaign's recipients,
-- kept by the one-per-contact trigger below (never written elsewhere); a
-- launch continues after it, so a launch killed mid-way resumes from it.
-- launch_next_batch: the batch number the next chunk starts at.
-- materialising: the launch has not inserted its last chunk yet; such a
-- campaign is never completed (CHECK), whatever its batches say.
ALTER TABLE "campaigns"
  ADD COLUMN "launch_cursor" UUID,
  ADD COLUMN "launch_next_batch" INTEGER NOT NULL DEFAULT 0,
  ADD COLUMN "materialising" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "campaigns"
  ADD CONSTRAINT "campaigns_launch_next_batch_check" CHECK ("launch_next_batch" >= 0),
  ADD CONSTRAINT "campaigns_completed_materialised_check" CHECK (NOT ("materialising" AND "status" = 'completed'));

-- Campaigns launched before: their recipients were inserted in one statement
-- and nothing more will be; the highest possible cursor sends any later
-- insert through the trigger's full check.
UPDATE "campaigns" c
   SET "launch_cursor" = 'ffffffff-ffff-ffff-ffff-ffffffffffff',
       "launch_next_batch" = COALESCE((SELECT max(b."batch_no") + 1 FROM "campaign_batches" b WHERE b."campaign_id" = c."id"), 0)
 WHERE EXISTS (SELECT 1 FROM "campaign_recipients" r WHERE r."campaign_id" = c."id");

-- The one-recipient-per-contact check, now linear in what a statement
-- inserts: when every inserted contact id is above the campaign's cursor (a
-- keyset chunk of the launch), no existing recipient can hold one of them
-- (they are all at or below it), so only the inserted rows are compared.
-- Otherwise the whole campaign is checked, as before. Either way the cursor
-- then moves to the largest contact id inserted. All under the campaign's
-- advisory lock, so inserts into one campaign are serialised.
CREATE OR REPLACE FUNCTION "campaign_recipients_one_per_contact"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
  c UUID;
  cur UUID;
  lo UUID;
  hi UUID;
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'campaign_recipients rows are inserted at READ COMMITTED only (its one-recipient-per-contact check needs a snapshot taken after its lock)'
      USING ERRCODE = 'feature_not_supported';
  END IF;
  FOR c IN SELECT DISTINCT "campaign_id" FROM inserted ORDER BY 1 LOOP
    PERFORM pg_advisory_xact_lock(hashtextextended('campaign_recipients:' || c::text, 0));
    SELECT "launch_cursor" INTO cur FROM "campaigns" WHERE "id" = c;
    SELECT i."contact_id" INTO lo FROM inserted i WHERE i."campaign_id" = c ORDER BY i."contact_id" LIMIT 1;
    SELECT i."contact_id" INTO hi FROM inserted i WHERE i."campaign_id" = c ORDER BY i."contact_id" DESC LIMIT 1;
    IF cur IS NULL OR lo > cur THEN
      IF EXISTS (SELECT 1 FROM inserted i WHERE i."campaign_id" = c GROUP BY i."contact_id" HAVING count(*) > 1) THEN
        RAISE EXCEPTION 'campaign % already has a recipient for one of these contacts', c
          USING ERRCODE = 'unique_violation', CONSTRAINT = 'campaign_recipients_campaign_id_contact_id_key';
      END IF;
    ELSIF EXISTS (SELECT 1 FROM "campaign_recipients" WHERE "campaign_id" = c GROUP BY "contact_id" HAVING count(*) > 1) THEN
      RAISE EXCEPTION 'campaign % already has a recipient for one of these contacts', c
        USING ERRCODE = 'unique_violation', CONSTRAINT = 'campaign_recipients_campaign_id_contact_id_key';
    END IF;
    UPDATE "campaigns" SET "launch_cursor" = hi WHERE "id" = c AND ("launch_cursor" IS NULL OR "launch_cursor" < hi);
  END LOOP;
  RETURN NULL;
END
$$;
