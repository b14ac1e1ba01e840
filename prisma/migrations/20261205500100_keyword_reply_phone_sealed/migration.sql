-- The number a keyword reply goes to is kept encrypted (AES-256-GCM with
-- SHOP_TOKEN_ENCRYPTION_KEY, bound to the reply by its additional data), so
-- no table holds a readable number that no shop holds (docs/webhooks.md,
-- "Keyword replies"). The CHECKs follow the rename.
ALTER TABLE "keyword_replies" RENAME COLUMN "to_phone" TO "to_phone_sealed";
