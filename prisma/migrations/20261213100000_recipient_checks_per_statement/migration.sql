-- The recipient row's two update checks (keys never change, status only moves
-- forward) become one check per statement.
--
-- A BEFORE UPDATE row trigger makes Postgres lock every row it updates before
-- the trigger's WHEN is even evaluated (the old row is fetched for the
-- trigger under a tuple lock): one more write of the heap page and one WAL
-- record (~54 B) per row. The settle and the delivery report each paid it for
-- every recipient: 238 537 lock records in a 100 000-recipient send with its
-- reports (pg_waldump --stats), a fifth of the send's WAL records.
--
-- An AFTER … FOR EACH STATEMENT trigger sees the statement's old and new rows
-- as transition tables and checks them together (one hash join per
-- statement), without a lock of its own. It raises the same errors with the
-- same SQLSTATE, and the statement's changes are rolled back with it, as
-- before.
DROP TRIGGER "campaign_recipients_forward_only" ON "campaign_recipients";
DROP TRIGGER "campaign_recipients_fixed_keys" ON "campaign_recipients";
DROP FUNCTION "campaign_recipients_forward_only"();
DROP FUNCTION "campaign_recipients_fixed_keys"();

-- The function's plan is made once per session, for the size of the first
-- statement it checks; with nested loops off it is a hash or merge join,
-- linear in the rows of any later statement (a nested loop planned for one
-- row took 100 ms for 1 000, and made a send five times slower in Postgres).
CREATE FUNCTION "campaign_recipients_checked_update"() RETURNS TRIGGER LANGUAGE plpgsql
SET enable_nestloop = off AS $$
DECLARE
  bad RECORD;
BEGIN
  -- A row whose id is gone from the new rows changed its key too. The join is
  -- planned without the LIMIT (with it, the planner looped the new rows for
  -- each old row: 1 000 000 comparisons for a batch of 1 000).
  WITH refused AS MATERIALIZED (
    SELECT o."status" AS was, n."status" AS now,
           n."id" IS NULL OR n."campaign_id" <> o."campaign_id" OR n."contact_id" <> o."contact_id" AS keys_moved
      FROM old_rows o LEFT JOIN new_rows n ON n."id" = o."id"
     WHERE n."id" IS NULL OR n."campaign_id" <> o."campaign_id" OR n."contact_id" <> o."contact_id"
        -- A lease expiry may return a claimed row to the queue; nothing else moves back.
        OR (n."status" <> o."status"
            AND NOT (o."status" = 'sending' AND n."status" = 'pending')
            AND recipient_status_rank(n."status") <= recipient_status_rank(o."status"))
  )
  SELECT * INTO bad FROM refused LIMIT 1;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  IF bad.keys_moved THEN
    RAISE EXCEPTION 'campaign_recipients.campaign_id and contact_id never change' USING ERRCODE = 'check_violation';
  END IF;
  RAISE EXCEPTION 'campaign_recipients status may not move from % to %', bad.was, bad.now USING ERRCODE = 'check_violation';
END
$$;
CREATE TRIGGER "campaign_recipients_checked_update" AFTER UPDATE ON "campaign_recipients"
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION "campaign_recipients_checked_update"();
