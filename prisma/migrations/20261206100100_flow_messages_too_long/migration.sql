-- A send step's text is bounded at 1 600 characters before its placeholders
-- are filled: a checkout link (≤ 2 048) and names can take it past the 2 000
-- the first migration allowed, and a CHECK refusing the row would fail the
-- step again at every claim. The text may be up to 4 000 characters; a
-- longer one is not sent (skipped, `too_long`) and the run goes on.
ALTER TABLE "flow_messages"
    DROP CONSTRAINT "flow_messages_body_check",
    ADD CONSTRAINT "flow_messages_body_check" CHECK (("status" = 'sending' OR "body" IS NULL) AND char_length("body") <= 4000),
    DROP CONSTRAINT "flow_messages_skip_reason_check",
    ADD CONSTRAINT "flow_messages_skip_reason_check" CHECK (
      ("status" = 'skipped') = ("skip_reason" IS NOT NULL)
      AND ("skip_reason" IS NULL OR "skip_reason" IN ('frequency_cap', 'not_sendable', 'suppressed', 'no_checkout_url', 'empty_message', 'too_long')));
