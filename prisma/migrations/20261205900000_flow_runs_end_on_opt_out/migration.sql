-- A STOP (any opt-out), an unsubscribe or an erasure ends every active flow
-- run of the contact in the statement that changes the contact, whichever
-- path writes it (inbound keyword, API, import, Shopify webhook, erasure), so
-- no later step can be claimed (docs/flows.md "Execution"). Statement-level
-- with a transition table: one set-based update per statement, through
-- flow_runs_contact_active_idx, and nothing to do for a statement that opts
-- nobody out.
CREATE FUNCTION "contacts_end_flow_runs"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE flow_runs r
     SET status = 'exited',
         exit_reason = CASE WHEN n.erased_at IS NOT NULL THEN 'contact_erased' ELSE 'opted_out' END,
         next_due_at = NULL, ended_at = now(), claim_token = NULL, lease_until = NULL, updated_at = now()
    FROM new_contacts n
   WHERE r.contact_id = n.id AND r.status = 'active'
     AND (n.opted_out_at IS NOT NULL OR n.sms_consent = 'unsubscribed' OR n.erased_at IS NOT NULL);
  RETURN NULL;
END $$;
CREATE TRIGGER "contacts_end_flow_runs" AFTER UPDATE ON "contacts"
  REFERENCING NEW TABLE AS new_contacts FOR EACH STATEMENT EXECUTE FUNCTION "contacts_end_flow_runs"();
