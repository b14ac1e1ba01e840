-- Shopify signs the body only; topic, shop and webhook id travel in unsigned
-- headers. A signed body is therefore applied at most once, whatever id,
-- topic or shop accompany a later copy of it: its SHA-256 is recorded in the
-- same statement that stores the event, and a body already recorded makes the
-- delivery a duplicate (domain/webhooks/record-event.ts). Kept apart from
-- webhook_events so pruning finished events does not reopen old bodies to
-- replay; a digest is a hash of the whole body and carries no readable PII.
CREATE TABLE "webhook_body_digests" (
    "provider" TEXT NOT NULL,
    "body_sha256" TEXT NOT NULL,
    "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "webhook_body_digests_pkey" PRIMARY KEY ("provider", "body_sha256"),
    CONSTRAINT "webhook_body_digests_sha256_check" CHECK ("body_sha256" ~ '^[0-9a-f]{64}$')
);
