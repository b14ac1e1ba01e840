-- The flow send step (issue 17, item 3; docs/flows.md "Send step"): one row
-- per run and send step, written under the run's claim BEFORE the provider
-- call, so a worker killed mid-send leaves a `sending` row that the next
-- claim finds (re-sent with the same reference `f<id>` only to a provider
-- that dedups by reference, otherwise recorded `unknown`, never sent twice).
-- The unique (run_id, step) makes a step send at most one message whatever
-- number of jobs, claims or retries touch it.
--
-- No phone column: the number is read from the contact at send time, as a
-- campaign recipient's is, so erasure (which scrubs the contact) leaves no
-- number here. The rendered text is kept only while the message may still
-- have to be re-sent (`sending`) and goes once it is final (CHECK), as a
-- keyword reply's sealed number does.
CREATE TABLE "flow_messages" (
    "id" BIGSERIAL NOT NULL,
    "run_id" BIGINT NOT NULL,
    "step" INTEGER NOT NULL,
    "shop_id" UUID NOT NULL,
    "flow_id" UUID NOT NULL,
    "version_id" UUID NOT NULL,
    "contact_id" UUID NOT NULL,
    -- sending → sent → delivered | undelivered (delivery report); failed (the
    -- provider refused it); unknown (may have gone out, never re-sent, not
    -- charged); skipped (never sent: skip_reason says why).
    "status" TEXT NOT NULL DEFAULT 'sending',
    "skip_reason" TEXT,
    "error_code" TEXT,
    "body" TEXT,
    "segments" SMALLINT,
    "encoding" TEXT,
    -- Credits debited for it (ledger key flow-msg-<id>); 0 until sent.
    "credits" INTEGER NOT NULL DEFAULT 0,
    "provider_message_id" TEXT,
    -- The run claim of the attempt that last called the provider with it;
    -- NULL on a `sending` row means "certainly not sent" (the provider
    -- refused the request as a whole): the next claim sends it as new.
    "claim_token" UUID,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "trace_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "sent_at" TIMESTAMPTZ(3),
    "delivered_at" TIMESTAMPTZ(3),
    "final_at" TIMESTAMPTZ(3),
    CONSTRAINT "flow_messages_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "flow_messages_status_check" CHECK ("status" IN ('sending', 'sent', 'delivered', 'undelivered', 'failed', 'unknown', 'skipped')),
    CONSTRAINT "flow_messages_skip_reason_check" CHECK (
      ("status" = 'skipped') = ("skip_reason" IS NOT NULL)
      AND ("skip_reason" IS NULL OR "skip_reason" IN ('frequency_cap', 'not_sendable', 'suppressed', 'no_checkout_url', 'empty_message'))),
    CONSTRAINT "flow_messages_step_check" CHECK ("step" BETWEEN 0 AND 19),
    CONSTRAINT "flow_messages_sent_check" CHECK ("status" NOT IN ('sent', 'delivered', 'undelivered') OR ("provider_message_id" IS NOT NULL AND "segments" IS NOT NULL AND "sent_at" IS NOT NULL)),
    CONSTRAINT "flow_messages_delivered_check" CHECK (("status" = 'delivered') = ("delivered_at" IS NOT NULL)),
    -- Open (may still change by a send or a report) until final.
    CONSTRAINT "flow_messages_final_check" CHECK (("status" IN ('sending', 'sent')) = ("final_at" IS NULL)),
    -- The text only while it may still have to be sent.
    CONSTRAINT "flow_messages_body_check" CHECK (("status" = 'sending' OR "body" IS NULL) AND char_length("body") <= 2000),
    CONSTRAINT "flow_messages_segments_check" CHECK ("segments" BETWEEN 1 AND 255),
    CONSTRAINT "flow_messages_encoding_check" CHECK ("encoding" IN ('GSM-7', 'UCS-2')),
    -- Charged only for a message that went out, never more than its segments.
    CONSTRAINT "flow_messages_credits_check" CHECK ("credits" >= 0 AND ("credits" = 0 OR ("status" IN ('sent', 'delivered', 'undelivered') AND "credits" <= "segments"))),
    CONSTRAINT "flow_messages_attempts_check" CHECK ("attempts" >= 0),
    CONSTRAINT "flow_messages_error_code_check" CHECK (char_length("error_code") <= 200),
    CONSTRAINT "flow_messages_trace_id_check" CHECK (char_length("trace_id") <= 128)
);
-- One message per run and step.
CREATE UNIQUE INDEX "flow_messages_run_id_step_key" ON "flow_messages"("run_id", "step");
-- Per flow and step figures (stats).
CREATE INDEX "flow_messages_flow_id_step_idx" ON "flow_messages"("flow_id", "step");
CREATE INDEX "flow_messages_shop_id_idx" ON "flow_messages"("shop_id");
-- Erasure scrubs a contact's open messages.
CREATE INDEX "flow_messages_contact_id_idx" ON "flow_messages"("contact_id");
ALTER TABLE "flow_messages" ADD CONSTRAINT "flow_messages_run_id_fkey" FOREIGN KEY ("run_id") REFERENCES "flow_runs"("id") ON DELETE CASCADE ON UPDATE CASCADE;
