-- A STOP, an unsubscribe or an erasure ends the contact's runs in the
-- statement that changes the contact (contacts_end_flow_runs). A batched
-- attempt's send mark became its message's `unknown` row here; a message the
-- one-message path had written `sending` before its provider call did not:
-- its attempt's settle then found the claim gone and wrote nothing, and the
-- row stayed `sending` until reconciliation's orphan pass (5 minutes). Its
-- delivery report, seconds after the send, found it `sending`, waited and was
-- dropped after its retries (about two minutes): a message that went out
-- was never charged. Now the run's open message of its current step becomes
-- final with the run: `unknown` when an attempt holds it (it may have gone;
-- never re-sent, a report proving it delivered charges it), `run_ended`, or
-- `erased` for an erasure (as customers/redact records it); `skipped`
-- (`not_sendable`) when its claim was released (certainly not sent: what the
-- send step records for a released message whose contact may no longer be
-- texted). Its text goes with it.
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
    RETURNING r.id, r.current_step, r.shop_id, r.flow_id, r.version_id, r.contact_id, r.trace_id, r.sending_message_id, r.sending_segments, r.exit_reason
  ), open_rows AS (
    UPDATE flow_messages m
       SET status = CASE WHEN m.claim_token IS NULL THEN 'skipped' ELSE 'unknown' END,
           skip_reason = CASE WHEN m.claim_token IS NULL THEN 'not_sendable' END,
           error_code = CASE WHEN m.claim_token IS NULL THEN NULL WHEN e.exit_reason = 'contact_erased' THEN 'erased' ELSE 'run_ended' END,
           body = NULL, claim_token = NULL, final_at = now()
      FROM ended e
     WHERE m.run_id = e.id AND m.step = e.current_step
       AND m.status = 'sending' AND m.sent_at IS NULL AND m.skip_reason IS NULL AND m.error_code IS NULL
  )
  INSERT INTO flow_messages (id, run_id, step, shop_id, flow_id, version_id, contact_id, status, error_code, segments, final_at, attempts, trace_id)
  SELECT sending_message_id, id, current_step, shop_id, flow_id, version_id, contact_id, 'unknown', 'run_ended', sending_segments, now(), 1, trace_id
    FROM ended
   WHERE sending_message_id IS NOT NULL
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;
