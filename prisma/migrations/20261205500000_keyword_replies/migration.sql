-- Keyword replies (docs/webhooks.md, "Keyword replies"): one confirmation per
-- inbound STOP/START/HELP text, sent by a job after the inbound transaction
-- commits, never charged to campaign credits.

-- Per-shop reply texts (NULL = the default text) and the count of replies
-- sent for the shop (counted apart from credits; docs/credits.md).
ALTER TABLE "shops"
    ADD COLUMN "keyword_reply_stop" TEXT,
    ADD COLUMN "keyword_reply_start" TEXT,
    ADD COLUMN "keyword_reply_help" TEXT,
    ADD COLUMN "keyword_replies_sent" INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN "keyword_reply_segments" INTEGER NOT NULL DEFAULT 0,
    ADD CONSTRAINT "shops_keyword_reply_texts_check" CHECK (
        char_length("keyword_reply_stop") BETWEEN 1 AND 320
        AND char_length("keyword_reply_start") BETWEEN 1 AND 320
        AND char_length("keyword_reply_help") BETWEEN 1 AND 320),
    ADD CONSTRAINT "shops_keyword_reply_counts_check" CHECK ("keyword_replies_sent" >= 0 AND "keyword_reply_segments" >= 0);

-- One row per inbound keyword text: the unique key (provider, inbound id) is
-- what makes a replayed or thrice-delivered webhook reply once. The number
-- is kept only until the reply is final (then NULL, by CHECK); the hashes
-- stay for the precedence checks and erasure.
CREATE TABLE "keyword_replies" (
    "id" BIGSERIAL NOT NULL,
    "provider" TEXT NOT NULL,
    "inbound_message_id" TEXT NOT NULL,
    "shop_id" UUID,
    "keyword" TEXT NOT NULL,
    "scope" TEXT NOT NULL,
    "sender" TEXT NOT NULL,
    "to_phone" TEXT,
    "to_hash" TEXT NOT NULL,
    "to_hmac" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "claim_token" UUID,
    "lease_until" TIMESTAMPTZ(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "provider_message_id" TEXT,
    "segments" SMALLINT,
    "error_code" TEXT,
    "trace_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "sent_at" TIMESTAMPTZ(3),
    "final_at" TIMESTAMPTZ(3),
    CONSTRAINT "keyword_replies_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "keyword_replies_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "keyword_replies_keyword_check" CHECK ("keyword" IN ('STOP', 'START', 'HELP')),
    CONSTRAINT "keyword_replies_status_check" CHECK ("status" IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'suppressed', 'unknown')),
    -- A reply being sent holds a claim; nothing else does.
    CONSTRAINT "keyword_replies_claim_check" CHECK (("status" = 'sending') = ("claim_token" IS NOT NULL AND "lease_until" IS NOT NULL)),
    CONSTRAINT "keyword_replies_sent_check" CHECK ("status" NOT IN ('sent', 'delivered') OR ("provider_message_id" IS NOT NULL AND "segments" IS NOT NULL AND "sent_at" IS NOT NULL)),
    -- The number goes once the reply is final.
    CONSTRAINT "keyword_replies_phone_check" CHECK ("status" IN ('pending', 'sending') OR "to_phone" IS NULL),
    CONSTRAINT "keyword_replies_open_phone_check" CHECK ("status" NOT IN ('pending', 'sending') OR "to_phone" IS NOT NULL)
);
CREATE UNIQUE INDEX "keyword_replies_provider_inbound_message_id_key" ON "keyword_replies"("provider", "inbound_message_id");
CREATE INDEX "keyword_replies_shop_id_idx" ON "keyword_replies"("shop_id");
CREATE INDEX "keyword_replies_to_hash_idx" ON "keyword_replies"("to_hash");
