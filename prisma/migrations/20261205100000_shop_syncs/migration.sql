-- Initial and repeated Shopify customer syncs (docs/shopify.md "Customer
-- sync"): one row per sync run. The bulk operation's id and Shopify's
-- outcome, the cursor into its JSONL result (lines applied), the counts, and
-- the claim of the worker applying it. At most one queued or running sync per
-- shop (partial unique index): starting one while another runs returns that one.
CREATE TABLE "shop_syncs" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "shop_id" UUID NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'queued',
    -- install: started by the shop's first token exchange; resync: by a merchant or the on-call.
    "reason" TEXT NOT NULL,
    "bulk_operation_id" TEXT,
    "bulk_status" TEXT,
    "bulk_error_code" TEXT,
    "bulk_object_count" BIGINT,
    -- How completion was learnt (the bulk_operations/finish webhook or polling), whichever came first.
    "bulk_finished_via" TEXT,
    "bulk_finished_at" TIMESTAMPTZ(3),
    "polls" INTEGER NOT NULL DEFAULT 0,
    "throttled_waits" INTEGER NOT NULL DEFAULT 0,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    -- Lines of the JSONL result applied so far: a resumed run skips them.
    "lines_applied" BIGINT NOT NULL DEFAULT 0,
    "customers_seen" INTEGER NOT NULL DEFAULT 0,
    "contacts_created" INTEGER NOT NULL DEFAULT 0,
    "contacts_updated" INTEGER NOT NULL DEFAULT 0,
    "contacts_unchanged" INTEGER NOT NULL DEFAULT 0,
    "skipped_no_phone" INTEGER NOT NULL DEFAULT 0,
    "invalid_phone" INTEGER NOT NULL DEFAULT 0,
    "subscribed" INTEGER NOT NULL DEFAULT 0,
    "opted_out" INTEGER NOT NULL DEFAULT 0,
    -- The worker applying the result; a claim whose lease ran out is taken over.
    "claim_token" UUID,
    "lease_until" TIMESTAMPTZ(3),
    "error" TEXT,
    "trace_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "finished_at" TIMESTAMPTZ(3),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "shop_syncs_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "shop_syncs_status_check" CHECK ("status" IN ('queued', 'running', 'completed', 'failed')),
    CONSTRAINT "shop_syncs_reason_check" CHECK ("reason" IN ('install', 'resync')),
    CONSTRAINT "shop_syncs_finished_via_check" CHECK ("bulk_finished_via" IN ('webhook', 'poll')),
    CONSTRAINT "shop_syncs_counts_check" CHECK ("polls" >= 0 AND "throttled_waits" >= 0 AND "attempts" >= 0 AND "lines_applied" >= 0
      AND "customers_seen" >= 0 AND "contacts_created" >= 0 AND "contacts_updated" >= 0 AND "contacts_unchanged" >= 0
      AND "skipped_no_phone" >= 0 AND "invalid_phone" >= 0 AND "subscribed" >= 0 AND "opted_out" >= 0),
    CONSTRAINT "shop_syncs_claim_check" CHECK (("claim_token" IS NULL) = ("lease_until" IS NULL)),
    CONSTRAINT "shop_syncs_finished_check" CHECK (("status" IN ('completed', 'failed')) = ("finished_at" IS NOT NULL)),
    CONSTRAINT "shop_syncs_error_check" CHECK (char_length("error") <= 1000 AND ("error" IS NULL OR "status" = 'failed')),
    CONSTRAINT "shop_syncs_text_check" CHECK (char_length("bulk_operation_id") <= 255 AND char_length("bulk_status") <= 64
      AND char_length("bulk_error_code") <= 64 AND char_length("trace_id") <= 128)
);
CREATE INDEX "shop_syncs_shop_id_created_at_idx" ON "shop_syncs"("shop_id", "created_at");
CREATE UNIQUE INDEX "shop_syncs_one_open_per_shop" ON "shop_syncs"("shop_id") WHERE "status" IN ('queued', 'running');
-- The bulk_operations/finish webhook finds its sync by Shopify's operation id.
CREATE INDEX "shop_syncs_bulk_operation_idx" ON "shop_syncs"("shop_id", "bulk_operation_id") WHERE "bulk_operation_id" IS NOT NULL;
-- Reconciliation's scan for quiet open syncs.
CREATE INDEX "shop_syncs_open_updated_at_idx" ON "shop_syncs"("updated_at") WHERE "status" IN ('queued', 'running');
ALTER TABLE "shop_syncs" ADD CONSTRAINT "shop_syncs_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- A bulk path (the sync's chunks) may give each contact its own collection
-- time: `collectedAtByHash` (phone hash → time) in app.consent_context, else
-- the declaration's collectedAt, else now. Otherwise as in 20261204060000.
CREATE OR REPLACE FUNCTION "contacts_record_consent"() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  ctx jsonb := NULLIF(current_setting('app.consent_context', true), '')::jsonb;
BEGIN
  IF ctx IS NULL THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    INSERT INTO contact_consent_records (shop_id, contact_id, state, source, collected_at, evidence)
    SELECT n.shop_id, n.id, n.sms_consent, ctx->>'source',
           COALESCE((ctx->'collectedAtByHash'->>n.phone_hash)::timestamptz, (ctx->>'collectedAt')::timestamptz, now()),
           COALESCE(ctx->'evidence', '{}') || COALESCE(ctx->'byHash'->n.phone_hash, '{}')
      FROM new_rows n
     WHERE n.erased_at IS NULL
     ORDER BY n.id;
  ELSE
    INSERT INTO contact_consent_records (shop_id, contact_id, state, source, collected_at, evidence)
    SELECT n.shop_id, n.id, n.sms_consent, ctx->>'source',
           COALESCE((ctx->'collectedAtByHash'->>n.phone_hash)::timestamptz, (ctx->>'collectedAt')::timestamptz, now()),
           COALESCE(ctx->'evidence', '{}') || COALESCE(ctx->'byHash'->n.phone_hash, '{}')
      FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE n.erased_at IS NULL
       AND (n.sms_consent IS DISTINCT FROM o.sms_consent OR o.erased_at IS NOT NULL)
     ORDER BY n.id;
  END IF;
  RETURN NULL;
END $$;
