-- A claim's batched send writes its messages once, at the settle
-- (docs/flows.md "Send step"). What marks a step that may have gone out
-- before its settle is the run itself: the message id reserved for the step
-- (its reference `f<id>`) and its segments, set under the claim before the
-- provider call and cleared by the move that records the outcome. No index
-- names these columns, so setting the mark stays a heap-only update.
ALTER TABLE "flow_runs" ADD COLUMN "sending_message_id" BIGINT, ADD COLUMN "sending_segments" SMALLINT;
ALTER TABLE "flow_runs" ADD CONSTRAINT "flow_runs_sending_check"
  CHECK ((sending_message_id IS NULL) = (sending_segments IS NULL) AND (sending_segments IS NULL OR sending_segments BETWEEN 1 AND 255));

-- A STOP, an unsubscribe or an erasure ends the contact's runs outside any
-- claim, possibly while a batched attempt is between its provider call and
-- its settle (which then moves nothing): the message that attempt may have
-- sent gets its row here, `unknown` (never re-sent; a delivery report for it
-- still settles it, charged then), as a row left `sending` became one in the
-- orphan repair. The mark is left on the ended run; nothing claims it again.
CREATE OR REPLACE FUNCTION "contacts_end_flow_runs"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  WITH ended AS (
    UPDATE flow_runs r
       SET status = 'exited',
           exit_reason = CASE WHEN n.erased_at IS NOT NULL THEN 'contact_erased' ELSE 'opted_out' END,
           next_due_at = NULL, ended_at = now(), claim_token = NULL, lease_until = NULL, updated_at = now()
      FROM new_contacts n
     WHERE r.contact_id = n.id AND r.status = 'active'
       AND (n.opted_out_at IS NOT NULL OR n.sms_consent = 'unsubscribed' OR n.erased_at IS NOT NULL)
    RETURNING r.id, r.current_step, r.shop_id, r.flow_id, r.version_id, r.contact_id, r.trace_id, r.sending_message_id, r.sending_segments
  )
  INSERT INTO flow_messages (id, run_id, step, shop_id, flow_id, version_id, contact_id, status, error_code, segments, final_at, attempts, trace_id)
  SELECT sending_message_id, id, current_step, shop_id, flow_id, version_id, contact_id, 'unknown', 'run_ended', sending_segments, now(), 1, trace_id
    FROM ended
   WHERE sending_message_id IS NOT NULL
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;
