-- Automations (issue 17): flows, their immutable versions, and runs.
--
-- A flow is what the merchant edits (name, trigger, status); its steps live in
-- flow_versions, which are never updated: editing a flow's steps writes a new
-- version and moves flows.current_version_id, so a run keeps executing the
-- version it started on. A run is one contact going through one version for
-- one trigger subject; the unique keys below make any repeated trigger
-- (webhook retries, duplicate deliveries, replays of the outbox) start at
-- most one run. See docs/flows.md.
CREATE TABLE "flows" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "shop_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "trigger_type" TEXT NOT NULL,
    "trigger_config" JSONB NOT NULL DEFAULT '{}',
    "status" TEXT NOT NULL DEFAULT 'draft',
    "current_version_id" UUID,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "activated_at" TIMESTAMPTZ(3),
    CONSTRAINT "flows_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "flows_status_check" CHECK ("status" IN ('draft', 'live', 'paused')),
    CONSTRAINT "flows_trigger_type_check" CHECK ("trigger_type" IN ('contact_subscribed', 'checkout_abandoned', 'order_created')),
    CONSTRAINT "flows_name_check" CHECK (char_length("name") BETWEEN 1 AND 200),
    CONSTRAINT "flows_trigger_config_check" CHECK (jsonb_typeof("trigger_config") = 'object' AND octet_length("trigger_config"::text) <= 2048),
    -- Only a draft may lack a version to run (it is created with one; this keeps a live flow honest).
    CONSTRAINT "flows_live_has_version_check" CHECK ("status" = 'draft' OR "current_version_id" IS NOT NULL)
);
-- Composite keys so a run's (flow, shop) and (version, flow) pairs are proved to belong together.
CREATE UNIQUE INDEX "flows_id_shop_id_key" ON "flows"("id", "shop_id");
-- The list, newest first, keyset-paginated like campaigns.
CREATE INDEX "flows_shop_id_created_at_id_idx" ON "flows"("shop_id", "created_at", "id");
-- The trigger paths ask "does this shop have a live flow for this trigger?".
CREATE INDEX "flows_live_trigger_idx" ON "flows"("shop_id", "trigger_type") WHERE "status" = 'live';
ALTER TABLE "flows" ADD CONSTRAINT "flows_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "flow_versions" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "flow_id" UUID NOT NULL,
    "shop_id" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "steps" JSONB NOT NULL,
    "exit_condition" JSONB NOT NULL DEFAULT '{}',
    "smart_sending" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "flow_versions_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "flow_versions_version_check" CHECK ("version" >= 1),
    -- At most 20 steps of at most 1 600 characters each, plus their settings.
    CONSTRAINT "flow_versions_steps_check" CHECK (jsonb_typeof("steps") = 'array' AND jsonb_array_length("steps") <= 20 AND octet_length("steps"::text) <= 131072),
    CONSTRAINT "flow_versions_exit_condition_check" CHECK (jsonb_typeof("exit_condition") = 'object' AND octet_length("exit_condition"::text) <= 1024),
    CONSTRAINT "flow_versions_smart_sending_check" CHECK (jsonb_typeof("smart_sending") = 'object' AND octet_length("smart_sending"::text) <= 1024)
);
CREATE UNIQUE INDEX "flow_versions_flow_id_version_key" ON "flow_versions"("flow_id", "version");
CREATE UNIQUE INDEX "flow_versions_id_flow_id_key" ON "flow_versions"("id", "flow_id");
ALTER TABLE "flow_versions" ADD CONSTRAINT "flow_versions_flow_id_shop_id_fkey" FOREIGN KEY ("flow_id", "shop_id") REFERENCES "flows"("id", "shop_id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "flows" ADD CONSTRAINT "flows_current_version_id_id_fkey" FOREIGN KEY ("current_version_id", "id") REFERENCES "flow_versions"("id", "flow_id") ON DELETE NO ACTION ON UPDATE NO ACTION;

-- A version is what runs execute: never rewritten. A version no run uses may
-- be deleted (a draft's superseded versions, the flow itself).
CREATE FUNCTION "flow_versions_immutable"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'flow_versions are immutable: write a new version instead'
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER "flow_versions_no_update" BEFORE UPDATE ON "flow_versions"
  FOR EACH ROW EXECUTE FUNCTION "flow_versions_immutable"();

CREATE TABLE "flow_runs" (
    "id" BIGSERIAL NOT NULL,
    "flow_id" UUID NOT NULL,
    "version_id" UUID NOT NULL,
    "shop_id" UUID NOT NULL,
    "contact_id" UUID NOT NULL,
    "trigger_type" TEXT NOT NULL,
    -- What started it: the consent record id, the checkout token, the order id, or the manual request.
    "trigger_subject" TEXT NOT NULL,
    -- When the trigger happened (the consent's collection, the checkout's update, the order's creation).
    "triggered_at" TIMESTAMPTZ(3) NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'active',
    "exit_reason" TEXT,
    -- The index of the next step to execute, due at next_due_at.
    "current_step" INTEGER NOT NULL DEFAULT 0,
    "next_due_at" TIMESTAMPTZ(3),
    -- The executor's claim (item 3): like a campaign batch's, both or neither.
    "claim_token" UUID,
    "lease_until" TIMESTAMPTZ(3),
    "attempt" INTEGER NOT NULL DEFAULT 0,
    "trace_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "ended_at" TIMESTAMPTZ(3),
    CONSTRAINT "flow_runs_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "flow_runs_trigger_type_check" CHECK ("trigger_type" IN ('contact_subscribed', 'checkout_abandoned', 'order_created', 'manual')),
    CONSTRAINT "flow_runs_trigger_subject_check" CHECK (char_length("trigger_subject") BETWEEN 1 AND 200),
    CONSTRAINT "flow_runs_status_check" CHECK ("status" IN ('active', 'completed', 'exited')),
    CONSTRAINT "flow_runs_exit_reason_check" CHECK (
      ("status" = 'exited') = ("exit_reason" IS NOT NULL)
      AND ("exit_reason" IS NULL OR "exit_reason" IN ('order_placed', 'opted_out', 'condition', 'not_sendable', 'contact_erased', 'flow_deleted'))),
    CONSTRAINT "flow_runs_current_step_check" CHECK ("current_step" BETWEEN 0 AND 20),
    CONSTRAINT "flow_runs_due_check" CHECK (("status" = 'active') = ("next_due_at" IS NOT NULL)),
    CONSTRAINT "flow_runs_ended_check" CHECK (("status" = 'active') = ("ended_at" IS NULL)),
    CONSTRAINT "flow_runs_claim_check" CHECK (("claim_token" IS NULL) = ("lease_until" IS NULL)),
    CONSTRAINT "flow_runs_attempt_check" CHECK ("attempt" >= 0),
    CONSTRAINT "flow_runs_trace_id_check" CHECK (char_length("trace_id") <= 128)
);
-- Any repeated trigger starts at most one run per (flow, contact, subject) ...
CREATE UNIQUE INDEX "flow_runs_flow_id_contact_id_trigger_subject_key" ON "flow_runs"("flow_id", "contact_id", "trigger_subject");
-- ... and "contact subscribed" once per contact per flow, whatever record or resubscription follows.
CREATE UNIQUE INDEX "flow_runs_subscribed_once_key" ON "flow_runs"("flow_id", "contact_id") WHERE "trigger_type" = 'contact_subscribed';
-- The due-run scheduler (item 3): active runs by due time, nothing else in the index.
CREATE INDEX "flow_runs_due_idx" ON "flow_runs"("next_due_at") WHERE "status" = 'active';
-- A STOP ends every run of the contact; erasure too.
CREATE INDEX "flow_runs_contact_active_idx" ON "flow_runs"("contact_id") WHERE "status" = 'active';
-- Runs of a version (a draft's unused versions are pruned only when no run uses them).
CREATE INDEX "flow_runs_version_id_idx" ON "flow_runs"("version_id");
CREATE INDEX "flow_runs_shop_id_idx" ON "flow_runs"("shop_id");
ALTER TABLE "flow_runs" ADD CONSTRAINT "flow_runs_flow_id_shop_id_fkey" FOREIGN KEY ("flow_id", "shop_id") REFERENCES "flows"("id", "shop_id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "flow_runs" ADD CONSTRAINT "flow_runs_version_id_flow_id_fkey" FOREIGN KEY ("version_id", "flow_id") REFERENCES "flow_versions"("id", "flow_id") ON DELETE NO ACTION ON UPDATE NO ACTION;
ALTER TABLE "flow_runs" ADD CONSTRAINT "flow_runs_contact_id_fkey" FOREIGN KEY ("contact_id") REFERENCES "contacts"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- "Contact subscribed": queued by Postgres in the statement that writes the
-- consent record (itself written in the statement that changes the contact),
-- as ONE outbox event per statement and shop carrying the record ids, and
-- only when the shop has a live flow on that trigger; the flows.trigger.v1 job
-- starts the runs. A record written by a Shopify customer sync (source
-- shopify with a syncId in its evidence) restates consent the shop already
-- had: it is not a subscription and starts nothing.
CREATE FUNCTION "consent_records_queue_flow_trigger"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO outbox_events (event_type, aggregate_id, payload)
  SELECT 'flows.trigger.v1', r.shop_id::text,
         jsonb_build_object('kind', 'contact_subscribed', 'shopId', r.shop_id, 'recordIds', jsonb_agg(r.id::text ORDER BY r.id))
    FROM new_records r
   WHERE r.state = 'subscribed'
     AND NOT (r.source = 'shopify' AND r.evidence ? 'syncId')
     AND EXISTS (SELECT 1 FROM flows f WHERE f.shop_id = r.shop_id AND f.trigger_type = 'contact_subscribed' AND f.status = 'live')
   GROUP BY r.shop_id;
  RETURN NULL;
END $$;
CREATE TRIGGER "contact_consent_records_queue_flow_trigger" AFTER INSERT ON "contact_consent_records"
  REFERENCING NEW TABLE AS new_records FOR EACH STATEMENT EXECUTE FUNCTION "consent_records_queue_flow_trigger"();
