-- Initial data model. Every invariant of design.md is enforced here, by the
-- database, so that races and retries cannot break it whatever the code does.

-- shops ----------------------------------------------------------------------
CREATE TABLE "shops" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "domain" TEXT NOT NULL,
    "name" TEXT,
    "status" TEXT NOT NULL DEFAULT 'active',
    "timezone" TEXT NOT NULL DEFAULT 'UTC',
    "quiet_hours_start" TEXT NOT NULL DEFAULT '21:00',
    "quiet_hours_end" TEXT NOT NULL DEFAULT '08:00',
    "opt_out_footer" BOOLEAN NOT NULL DEFAULT true,
    "sender_id" TEXT NOT NULL,
    "access_token" TEXT,
    "installed_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "uninstalled_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "shops_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "shops_status_check" CHECK ("status" IN ('active', 'uninstalled', 'redacted')),
    CONSTRAINT "shops_domain_check" CHECK ("domain" ~ '^[a-z0-9][a-z0-9-]*\.myshopify\.com$'),
    CONSTRAINT "shops_quiet_hours_check" CHECK ("quiet_hours_start" ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$' AND "quiet_hours_end" ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'),
    CONSTRAINT "shops_sender_id_check" CHECK (length("sender_id") BETWEEN 1 AND 15)
);
CREATE UNIQUE INDEX "shops_domain_key" ON "shops"("domain");
CREATE INDEX "shops_sender_id_idx" ON "shops"("sender_id");

-- contacts -------------------------------------------------------------------
CREATE TABLE "contacts" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "shop_id" UUID NOT NULL,
    "phone_e164" TEXT,
    "phone_hash" TEXT NOT NULL,
    "email" TEXT,
    "first_name" TEXT,
    "last_name" TEXT,
    "sms_consent" TEXT NOT NULL DEFAULT 'pending',
    "tags" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "opted_out_at" TIMESTAMPTZ(3),
    "opt_out_source" TEXT,
    "shopify_customer_id" TEXT,
    "shopify_updated_at" TIMESTAMPTZ(3),
    "erased_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "contacts_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "contacts_phone_e164_check" CHECK ("phone_e164" ~ '^\+[1-9][0-9]{6,14}$'),
    CONSTRAINT "contacts_sms_consent_check" CHECK ("sms_consent" IN ('subscribed', 'unsubscribed', 'pending')),
    CONSTRAINT "contacts_opt_out_check" CHECK ("opt_out_source" IS NULL OR "opted_out_at" IS NOT NULL),
    CONSTRAINT "contacts_opt_out_source_check" CHECK ("opt_out_source" IN ('keyword', 'merchant', 'shopify', 'api', 'import', 'redact')),
    -- An erased contact keeps no PII: only the hash and its opt-out survive.
    CONSTRAINT "contacts_erased_check" CHECK ("erased_at" IS NULL OR ("phone_e164" IS NULL AND "email" IS NULL AND "first_name" IS NULL AND "last_name" IS NULL))
);
CREATE UNIQUE INDEX "contacts_shop_id_phone_e164_key" ON "contacts"("shop_id", "phone_e164");
CREATE UNIQUE INDEX "contacts_shop_id_phone_hash_key" ON "contacts"("shop_id", "phone_hash");
CREATE INDEX "contacts_shop_id_created_at_id_idx" ON "contacts"("shop_id", "created_at", "id");
-- Audience selection: only sendable contacts are indexed.
CREATE INDEX "contacts_audience_idx" ON "contacts"("shop_id", "id") WHERE "sms_consent" = 'subscribed' AND "opted_out_at" IS NULL AND "erased_at" IS NULL;
CREATE INDEX "contacts_tags_idx" ON "contacts" USING GIN ("tags");
CREATE UNIQUE INDEX "contacts_shopify_customer_idx" ON "contacts"("shop_id", "shopify_customer_id") WHERE "shopify_customer_id" IS NOT NULL;

-- campaigns ------------------------------------------------------------------
CREATE TABLE "campaigns" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "shop_id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "audience" JSONB NOT NULL DEFAULT '{}',
    "status" TEXT NOT NULL DEFAULT 'draft',
    "scheduled_at" TIMESTAMPTZ(3),
    "segments_per_message" INTEGER,
    "total_recipients" INTEGER NOT NULL DEFAULT 0,
    "trace_id" TEXT,
    "started_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),
    "cancelled_at" TIMESTAMPTZ(3),
    "last_activity_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "campaigns_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "campaigns_status_check" CHECK ("status" IN ('draft', 'scheduled', 'queued', 'sending', 'completed', 'cancelled', 'failed')),
    CONSTRAINT "campaigns_scheduled_check" CHECK ("status" <> 'scheduled' OR "scheduled_at" IS NOT NULL),
    CONSTRAINT "campaigns_body_check" CHECK (char_length("body") BETWEEN 1 AND 1600),
    CONSTRAINT "campaigns_total_recipients_check" CHECK ("total_recipients" >= 0),
    CONSTRAINT "campaigns_segments_check" CHECK ("segments_per_message" IS NULL OR "segments_per_message" > 0)
);
CREATE INDEX "campaigns_shop_id_created_at_id_idx" ON "campaigns"("shop_id", "created_at", "id");
CREATE INDEX "campaigns_due_idx" ON "campaigns"("scheduled_at") WHERE "status" = 'scheduled';
CREATE INDEX "campaigns_active_idx" ON "campaigns"("last_activity_at") WHERE "status" IN ('queued', 'sending');

-- campaign_batches -----------------------------------------------------------
CREATE TABLE "campaign_batches" (
    "campaign_id" UUID NOT NULL,
    "batch_no" INTEGER NOT NULL,
    "recipient_count" INTEGER NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "not_before" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "campaign_batches_pkey" PRIMARY KEY ("campaign_id", "batch_no"),
    CONSTRAINT "campaign_batches_status_check" CHECK ("status" IN ('pending', 'done')),
    CONSTRAINT "campaign_batches_batch_no_check" CHECK ("batch_no" >= 0),
    CONSTRAINT "campaign_batches_recipient_count_check" CHECK ("recipient_count" >= 0)
);
CREATE INDEX "campaign_batches_pending_idx" ON "campaign_batches"("updated_at") WHERE "status" = 'pending';

-- campaign_recipients --------------------------------------------------------
CREATE TABLE "campaign_recipients" (
    "id" BIGSERIAL NOT NULL,
    "campaign_id" UUID NOT NULL,
    "contact_id" UUID NOT NULL,
    "batch_no" INTEGER NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "attempt" SMALLINT NOT NULL DEFAULT 0,
    "claim_token" UUID,
    "lease_until" TIMESTAMPTZ(3),
    "provider_message_id" TEXT,
    "segments" SMALLINT,
    "error_code" TEXT,
    "sent_at" TIMESTAMPTZ(3),
    "final_at" TIMESTAMPTZ(3),
    CONSTRAINT "campaign_recipients_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "campaign_recipients_status_check" CHECK ("status" IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'skipped', 'cancelled', 'unknown')),
    -- A claimed row always carries its claim token and lease.
    CONSTRAINT "campaign_recipients_claim_check" CHECK ("status" <> 'sending' OR ("claim_token" IS NOT NULL AND "lease_until" IS NOT NULL)),
    -- A sent or delivered row always has the provider's id and its billed segments.
    CONSTRAINT "campaign_recipients_sent_check" CHECK ("status" NOT IN ('sent', 'delivered') OR ("provider_message_id" IS NOT NULL AND "segments" IS NOT NULL)),
    CONSTRAINT "campaign_recipients_segments_check" CHECK ("segments" IS NULL OR "segments" > 0),
    CONSTRAINT "campaign_recipients_attempt_check" CHECK ("attempt" >= 0)
);
CREATE UNIQUE INDEX "campaign_recipients_provider_message_id_key" ON "campaign_recipients"("provider_message_id");
CREATE UNIQUE INDEX "campaign_recipients_campaign_id_contact_id_key" ON "campaign_recipients"("campaign_id", "contact_id");
-- Claims read only open rows; the index shrinks as a campaign completes.
CREATE INDEX "campaign_recipients_open_idx" ON "campaign_recipients"("campaign_id", "batch_no") WHERE "status" IN ('pending', 'sending');
CREATE INDEX "campaign_recipients_lease_idx" ON "campaign_recipients"("lease_until") WHERE "status" = 'sending';

-- Status only moves forward, whatever the code does.
CREATE FUNCTION "recipient_status_rank"(s TEXT) RETURNS INTEGER LANGUAGE SQL IMMUTABLE AS $$
  SELECT CASE s
    WHEN 'pending' THEN 0
    WHEN 'sending' THEN 1
    WHEN 'unknown' THEN 2
    WHEN 'sent' THEN 3
    ELSE 4 -- delivered, failed, skipped, cancelled: terminal
  END
$$;
CREATE FUNCTION "campaign_recipients_forward_only"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."status" = OLD."status" THEN
    RETURN NEW;
  END IF;
  -- A lease expiry may return a claimed row to the queue; nothing else moves back.
  IF OLD."status" = 'sending' AND NEW."status" = 'pending' THEN
    RETURN NEW;
  END IF;
  IF recipient_status_rank(NEW."status") <= recipient_status_rank(OLD."status") THEN
    RAISE EXCEPTION 'campaign_recipients status may not move from % to %', OLD."status", NEW."status"
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER "campaign_recipients_forward_only" BEFORE UPDATE OF "status" ON "campaign_recipients"
  FOR EACH ROW EXECUTE FUNCTION "campaign_recipients_forward_only"();

-- credit_wallets -------------------------------------------------------------
CREATE TABLE "credit_wallets" (
    "shop_id" UUID NOT NULL,
    "balance" BIGINT NOT NULL DEFAULT 0,
    "reserved" BIGINT NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "credit_wallets_pkey" PRIMARY KEY ("shop_id"),
    CONSTRAINT "credit_wallets_balance_check" CHECK ("balance" >= 0),
    CONSTRAINT "credit_wallets_reserved_check" CHECK ("reserved" >= 0),
    CONSTRAINT "credit_wallets_reserved_le_balance_check" CHECK ("reserved" <= "balance")
);

-- credit_transactions (the ledger) --------------------------------------------
CREATE TABLE "credit_transactions" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "shop_id" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "amount" BIGINT NOT NULL,
    "balance_after" BIGINT NOT NULL,
    "reference" TEXT,
    "idempotency_key" TEXT NOT NULL,
    "trace_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "credit_transactions_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "credit_transactions_type_check" CHECK ("type" IN ('purchase', 'debit', 'refund', 'grant', 'adjustment')),
    CONSTRAINT "credit_transactions_amount_check" CHECK ("amount" <> 0),
    CONSTRAINT "credit_transactions_balance_after_check" CHECK ("balance_after" >= 0)
);
CREATE UNIQUE INDEX "credit_transactions_shop_id_idempotency_key_key" ON "credit_transactions"("shop_id", "idempotency_key");
CREATE INDEX "credit_transactions_shop_id_created_at_id_idx" ON "credit_transactions"("shop_id", "created_at", "id");

-- credit_reservations --------------------------------------------------------
CREATE TABLE "credit_reservations" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "shop_id" UUID NOT NULL,
    "campaign_id" UUID,
    "reservation_key" TEXT NOT NULL,
    "amount" BIGINT NOT NULL,
    "consumed" BIGINT NOT NULL DEFAULT 0,
    "released" BIGINT NOT NULL DEFAULT 0,
    "status" TEXT NOT NULL DEFAULT 'active',
    "expires_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "credit_reservations_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "credit_reservations_status_check" CHECK ("status" IN ('active', 'closed')),
    CONSTRAINT "credit_reservations_amounts_check" CHECK ("amount" >= 0 AND "consumed" >= 0 AND "released" >= 0 AND "consumed" + "released" <= "amount"),
    -- A closed reservation holds nothing back.
    CONSTRAINT "credit_reservations_closed_check" CHECK ("status" <> 'closed' OR "consumed" + "released" = "amount")
);
CREATE UNIQUE INDEX "credit_reservations_shop_id_reservation_key_key" ON "credit_reservations"("shop_id", "reservation_key");
CREATE UNIQUE INDEX "credit_reservations_one_active_per_campaign" ON "credit_reservations"("campaign_id") WHERE "status" = 'active';
CREATE INDEX "credit_reservations_expiry_idx" ON "credit_reservations"("expires_at") WHERE "status" = 'active';

-- purchases ------------------------------------------------------------------
CREATE TABLE "purchases" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "shop_id" UUID NOT NULL,
    "stripe_session_id" TEXT NOT NULL,
    "stripe_payment_intent_id" TEXT,
    "pack_id" TEXT NOT NULL,
    "credits" INTEGER NOT NULL,
    "amount" INTEGER NOT NULL,
    "currency" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "refund_shortfall" BIGINT NOT NULL DEFAULT 0,
    "granted_at" TIMESTAMPTZ(3),
    "refunded_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "purchases_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "purchases_status_check" CHECK ("status" IN ('pending', 'paid', 'refunded', 'expired')),
    CONSTRAINT "purchases_credits_check" CHECK ("credits" > 0),
    CONSTRAINT "purchases_amount_check" CHECK ("amount" >= 0),
    CONSTRAINT "purchases_refund_shortfall_check" CHECK ("refund_shortfall" >= 0)
);
CREATE UNIQUE INDEX "purchases_stripe_session_id_key" ON "purchases"("stripe_session_id");
CREATE UNIQUE INDEX "purchases_stripe_payment_intent_id_key" ON "purchases"("stripe_payment_intent_id");
CREATE INDEX "purchases_shop_id_created_at_idx" ON "purchases"("shop_id", "created_at");

-- stripe_customers -----------------------------------------------------------
CREATE TABLE "stripe_customers" (
    "shop_id" UUID NOT NULL,
    "stripe_customer_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "stripe_customers_pkey" PRIMARY KEY ("shop_id")
);
CREATE UNIQUE INDEX "stripe_customers_stripe_customer_id_key" ON "stripe_customers"("stripe_customer_id");

-- idempotency_keys -----------------------------------------------------------
CREATE TABLE "idempotency_keys" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "shop_id" UUID NOT NULL,
    "method" TEXT NOT NULL,
    "route" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'in_progress',
    "fence" INTEGER NOT NULL DEFAULT 1,
    "locked_until" TIMESTAMPTZ(3) NOT NULL,
    "response_status" INTEGER,
    "response_body" JSONB,
    "response_headers" JSONB,
    "request_id" TEXT,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "idempotency_keys_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "idempotency_keys_status_check" CHECK ("status" IN ('in_progress', 'completed', 'failed')),
    CONSTRAINT "idempotency_keys_key_check" CHECK (length("key") BETWEEN 1 AND 255),
    -- Only successful outcomes are stored for replay.
    CONSTRAINT "idempotency_keys_completed_check" CHECK ("status" <> 'completed' OR ("response_status" BETWEEN 200 AND 299)),
    CONSTRAINT "idempotency_keys_fence_check" CHECK ("fence" >= 1)
);
CREATE UNIQUE INDEX "idempotency_keys_shop_id_method_route_key_key" ON "idempotency_keys"("shop_id", "method", "route", "key");
CREATE INDEX "idempotency_keys_expires_at_idx" ON "idempotency_keys"("expires_at");

-- webhook_events -------------------------------------------------------------
CREATE TABLE "webhook_events" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "provider" TEXT NOT NULL,
    "event_id" TEXT NOT NULL,
    "topic" TEXT NOT NULL,
    "shop_id" UUID,
    "payload" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'received',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "last_error" TEXT,
    "trace_id" TEXT,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "next_attempt_at" TIMESTAMPTZ(3),
    "processed_at" TIMESTAMPTZ(3),
    CONSTRAINT "webhook_events_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "webhook_events_status_check" CHECK ("status" IN ('received', 'processed', 'failed', 'ignored', 'dropped')),
    CONSTRAINT "webhook_events_attempts_check" CHECK ("attempts" >= 0)
);
CREATE UNIQUE INDEX "webhook_events_provider_event_id_key" ON "webhook_events"("provider", "event_id");
CREATE INDEX "webhook_events_open_idx" ON "webhook_events"("received_at") WHERE "status" IN ('received', 'failed');

-- outbox_events --------------------------------------------------------------
CREATE TABLE "outbox_events" (
    "id" BIGSERIAL NOT NULL,
    "event_type" TEXT NOT NULL,
    "aggregate_id" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "trace_id" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "available_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "published_at" TIMESTAMPTZ(3),
    CONSTRAINT "outbox_events_pkey" PRIMARY KEY ("id"),
    -- Event names are versioned so consumers can evolve without renames.
    CONSTRAINT "outbox_events_event_type_check" CHECK ("event_type" ~ '^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+\.v[0-9]+$')
);
CREATE INDEX "outbox_events_unpublished_idx" ON "outbox_events"("available_at", "id") WHERE "published_at" IS NULL;

-- contact_imports ------------------------------------------------------------
CREATE TABLE "contact_imports" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "shop_id" UUID NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'queued',
    "total" INTEGER NOT NULL,
    "processed" INTEGER NOT NULL DEFAULT 0,
    "created" INTEGER NOT NULL DEFAULT 0,
    "updated" INTEGER NOT NULL DEFAULT 0,
    "rejected" JSONB NOT NULL DEFAULT '[]',
    "rows" JSONB,
    "default_country" TEXT,
    "trace_id" TEXT,
    "error" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "completed_at" TIMESTAMPTZ(3),
    CONSTRAINT "contact_imports_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "contact_imports_status_check" CHECK ("status" IN ('queued', 'running', 'completed', 'failed')),
    CONSTRAINT "contact_imports_counts_check" CHECK ("total" BETWEEN 0 AND 50000 AND "processed" BETWEEN 0 AND "total" AND "created" >= 0 AND "updated" >= 0)
);
CREATE INDEX "contact_imports_shop_id_created_at_idx" ON "contact_imports"("shop_id", "created_at");

-- privacy_requests -----------------------------------------------------------
CREATE TABLE "privacy_requests" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "shop_id" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "shopify_customer_id" TEXT,
    "data" JSONB NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "privacy_requests_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "privacy_requests_kind_check" CHECK ("kind" IN ('data_request', 'customer_redact', 'shop_redact'))
);
CREATE INDEX "privacy_requests_shop_id_created_at_idx" ON "privacy_requests"("shop_id", "created_at");

-- inbound_messages -----------------------------------------------------------
CREATE TABLE "inbound_messages" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "shop_id" UUID,
    "provider" TEXT NOT NULL,
    "provider_message_id" TEXT NOT NULL,
    "from_phone" TEXT,
    "from_hash" TEXT NOT NULL,
    "to_number" TEXT NOT NULL,
    "text" TEXT,
    "keyword" TEXT,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "inbound_messages_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "inbound_messages_provider_provider_message_id_idx" ON "inbound_messages"("provider", "provider_message_id");
CREATE INDEX "inbound_messages_from_hash_idx" ON "inbound_messages"("from_hash");

-- foreign keys ---------------------------------------------------------------
ALTER TABLE "contacts" ADD CONSTRAINT "contacts_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "campaigns" ADD CONSTRAINT "campaigns_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "campaign_batches" ADD CONSTRAINT "campaign_batches_campaign_id_fkey" FOREIGN KEY ("campaign_id") REFERENCES "campaigns"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "campaign_recipients" ADD CONSTRAINT "campaign_recipients_campaign_id_fkey" FOREIGN KEY ("campaign_id") REFERENCES "campaigns"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "campaign_recipients" ADD CONSTRAINT "campaign_recipients_contact_id_fkey" FOREIGN KEY ("contact_id") REFERENCES "contacts"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "credit_wallets" ADD CONSTRAINT "credit_wallets_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "credit_transactions" ADD CONSTRAINT "credit_transactions_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "credit_reservations" ADD CONSTRAINT "credit_reservations_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "credit_reservations" ADD CONSTRAINT "credit_reservations_campaign_id_fkey" FOREIGN KEY ("campaign_id") REFERENCES "campaigns"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "purchases" ADD CONSTRAINT "purchases_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "stripe_customers" ADD CONSTRAINT "stripe_customers_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "idempotency_keys" ADD CONSTRAINT "idempotency_keys_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "contact_imports" ADD CONSTRAINT "contact_imports_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "privacy_requests" ADD CONSTRAINT "privacy_requests_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "inbound_messages" ADD CONSTRAINT "inbound_messages_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;
