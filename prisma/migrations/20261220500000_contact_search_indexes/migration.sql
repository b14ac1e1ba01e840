-- The contacts search (domain/contacts/list-contacts.ts: `q` is a
-- case-insensitive prefix of the email, first or last name, or a phone
-- prefix) was a filter on the newest-first walk of
-- contacts_shop_id_created_at_id_idx: a prefix that few or no contacts match
-- read the whole shop (1 000 000 contacts: 1.4–5 s, past the statement
-- timeout on a busy database). One btree per searched field turns each
-- prefix into an index range, the OR into a BitmapOr; the planner still walks
-- created_at for a prefix common enough to fill a page quickly.
--
-- text_pattern_ops: a LIKE prefix becomes an index range whatever the
-- database collation (the default operator class only allows it under "C").
-- Partial on IS NOT NULL: a LIKE on the field implies it, contacts without an
-- email are not indexed for it, and erased contacts (no PII) not at all.
-- SQL-only (Prisma cannot express expression or partial indexes).
--
-- Plain CREATE INDEX: lib/migrator.ts runs each file in a transaction, where
-- CONCURRENTLY is refused, and it has no per-file opt-out. The build holds a
-- SHARE lock on contacts (reads go on, writes wait): ~4–5 s per index per
-- 1 000 000 contacts measured here. Where that is too long, create the four
-- indexes CONCURRENTLY by hand with these exact definitions before deploying
-- (and check none is left INVALID): IF NOT EXISTS then makes this a no-op.
CREATE INDEX IF NOT EXISTS "contacts_search_email_idx" ON "contacts"("shop_id", lower("email") text_pattern_ops) WHERE "email" IS NOT NULL;
CREATE INDEX IF NOT EXISTS "contacts_search_first_name_idx" ON "contacts"("shop_id", lower("first_name") text_pattern_ops) WHERE "first_name" IS NOT NULL;
CREATE INDEX IF NOT EXISTS "contacts_search_last_name_idx" ON "contacts"("shop_id", lower("last_name") text_pattern_ops) WHERE "last_name" IS NOT NULL;
CREATE INDEX IF NOT EXISTS "contacts_search_phone_idx" ON "contacts"("shop_id", "phone_e164" text_pattern_ops) WHERE "phone_e164" IS NOT NULL;

-- Statistics of the lowered fields. ANALYZE keeps statistics of an index
-- expression only for a non-partial index, and without them every prefix is
-- guessed at 0.5 % of the shop per field: the planner then walks created_at
-- for a prefix nobody has, which is the scan this migration removes.
-- (phone_e164 has its column statistics.)
CREATE STATISTICS IF NOT EXISTS "contacts_search_email_stats" ON (lower("email")) FROM "contacts";
CREATE STATISTICS IF NOT EXISTS "contacts_search_first_name_stats" ON (lower("first_name")) FROM "contacts";
CREATE STATISTICS IF NOT EXISTS "contacts_search_last_name_stats" ON (lower("last_name")) FROM "contacts";
-- Now rather than at autovacuum's next analyze (samples 30 000 rows; does not block writes).
ANALYZE "contacts";
