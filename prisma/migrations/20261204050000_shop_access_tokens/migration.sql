-- Shop access tokens (Admin API, offline) obtained by token exchange, kept
-- ENCRYPTED: the plaintext column that was never written goes away, and a
-- token lives in its own row so that erasing it (app/uninstalled) and the
-- claim of the one exchange in flight are single-row statements.
ALTER TABLE "shops" DROP COLUMN "access_token";

CREATE TABLE "shop_access_tokens" (
    "shop_id" UUID NOT NULL,
    -- AES-256-GCM: 'v1:<key id>:<iv>:<tag>:<ciphertext>' (base64url parts),
    -- additional data bound to the shop id. NULL: no valid token (never
    -- exchanged yet, or invalidated by a 401 or app/scopes_update).
    "ciphertext" TEXT,
    "scopes" TEXT,
    "obtained_at" TIMESTAMPTZ(3),
    "invalidated_at" TIMESTAMPTZ(3),
    -- The one exchange in flight: whoever set exchange_claim may store the
    -- result (fenced UPDATE ... WHERE exchange_claim = $mine); others skip
    -- until exchange_not_before. After a failure the claim is cleared and
    -- exchange_not_before holds the retry back.
    "exchange_claim" UUID,
    "exchange_not_before" TIMESTAMPTZ(3),
    "exchange_failures" INTEGER NOT NULL DEFAULT 0,
    "last_exchange_error" TEXT,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),

    CONSTRAINT "shop_access_tokens_pkey" PRIMARY KEY ("shop_id"),
    CONSTRAINT "shop_access_tokens_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    -- Only the envelope can be stored: a plaintext token (shpat_…) cannot.
    CONSTRAINT "shop_access_tokens_ciphertext_envelope" CHECK ("ciphertext" IS NULL OR "ciphertext" ~ '^v1:[0-9a-f]{16}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]{22}:[A-Za-z0-9_-]+$'),
    CONSTRAINT "shop_access_tokens_error_length" CHECK (length("last_exchange_error") <= 500)
);
