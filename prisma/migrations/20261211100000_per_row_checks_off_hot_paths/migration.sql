-- Two per-row checks off the send and report paths; what each guarded stays.

-- The forward-only check ran its PL/pgSQL function for every recipient's
-- settle and every delivery report (two calls per recipient, ~1.5 µs each
-- measured on 100 000 rows), only to let the move through. Its condition is
-- now the trigger's WHEN, evaluated without a function call; the function
-- runs only for a move it refuses, and raises as before.
DROP TRIGGER "campaign_recipients_forward_only" ON "campaign_recipients";
CREATE TRIGGER "campaign_recipients_forward_only" BEFORE UPDATE OF "status" ON "campaign_recipients"
  FOR EACH ROW
  WHEN (NEW."status" IS DISTINCT FROM OLD."status"
        AND NOT (OLD."status" = 'sending' AND NEW."status" = 'pending')
        AND recipient_status_rank(NEW."status") <= recipient_status_rank(OLD."status"))
  EXECUTE FUNCTION "campaign_recipients_forward_only"();

-- The run foreign key checked every flow message inserted against the run
-- its own transaction had just moved or locked (every insert of a message
-- does: the settle after moving the claim's runs, the one-message path after
-- FOR UPDATE, the STOP trigger after ending the runs): a key-share lock and
-- its WAL record per message, for rows that cannot name another run. What it
-- also gave, the cascade from a deleted run (runs go with their flow, contact
-- and shop), stays: a statement-level trigger deletes the messages of the
-- runs a statement deleted. A delete racing a settle waits for the run's row
-- lock, so the trigger's statement sees the settle's messages.
ALTER TABLE "flow_messages" DROP CONSTRAINT "flow_messages_run_id_fkey";
CREATE FUNCTION "flow_runs_delete_messages"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "flow_messages" m USING gone g WHERE m."run_id" = g."id";
  RETURN NULL;
END
$$;
CREATE TRIGGER "flow_runs_delete_messages" AFTER DELETE ON "flow_runs"
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION "flow_runs_delete_messages"();
