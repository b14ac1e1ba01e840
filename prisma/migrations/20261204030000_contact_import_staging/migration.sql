-- Contact imports no longer keep their rows (and rejections) as one jsonb
-- value that the job had to load whole: four maximum-size imports at once
-- took the worker past its heap. Rows are staged one per table row and read
-- in bounded chunks; rejections get their own table, paged by the API.

-- One staged row of an import until the job has applied it: `data` holds only
-- the known contact fields; a row the request already refused (unknown or
-- oversized fields) keeps none of its values, only why (`problem`).
CREATE TABLE "contact_import_rows" (
    "import_id" UUID NOT NULL,
    "row_index" INTEGER NOT NULL,
    "data" JSONB,
    "problem" TEXT,
    CONSTRAINT "contact_import_rows_pkey" PRIMARY KEY ("import_id", "row_index"),
    CONSTRAINT "contact_import_rows_one_of_check" CHECK (("data" IS NULL) <> ("problem" IS NULL)),
    CONSTRAINT "contact_import_rows_problem_check" CHECK (char_length("problem") <= 200),
    CONSTRAINT "contact_import_rows_row_index_check" CHECK ("row_index" BETWEEN 0 AND 49999)
);
ALTER TABLE "contact_import_rows" ADD CONSTRAINT "contact_import_rows_import_id_fkey" FOREIGN KEY ("import_id") REFERENCES "contact_imports"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "contact_import_rejections" (
    "import_id" UUID NOT NULL,
    "row_index" INTEGER NOT NULL,
    "code" TEXT NOT NULL,
    "message" TEXT NOT NULL,
    CONSTRAINT "contact_import_rejections_pkey" PRIMARY KEY ("import_id", "row_index"),
    CONSTRAINT "contact_import_rejections_code_check" CHECK ("code" IN ('INVALID_PHONE', 'VALIDATION_FAILED')),
    CONSTRAINT "contact_import_rejections_message_check" CHECK (char_length("message") <= 200)
);
ALTER TABLE "contact_import_rejections" ADD CONSTRAINT "contact_import_rejections_import_id_fkey" FOREIGN KEY ("import_id") REFERENCES "contact_imports"("id") ON DELETE CASCADE ON UPDATE CASCADE;

ALTER TABLE "contact_imports"
    ADD COLUMN "rejected_count" INTEGER NOT NULL DEFAULT 0,
    -- Runs of the job so far (each start, including restarts after a crash): reconciliation gives up past a bound.
    ADD COLUMN "attempts" INTEGER NOT NULL DEFAULT 0,
    ADD CONSTRAINT "contact_imports_rejected_count_check" CHECK ("rejected_count" >= 0 AND "created" + "updated" + "rejected_count" <= "processed"),
    ADD CONSTRAINT "contact_imports_attempts_check" CHECK ("attempts" >= 0);

-- Imports in flight when this runs. At most one per shop may be queued or
-- running from now on (the index below); older extras of a shop are failed.
UPDATE "contact_imports" ci
   SET "status" = 'failed', "error" = 'Only one import per shop runs at a time; submit it again', "rows" = NULL,
       "completed_at" = now(), "updated_at" = now()
 WHERE ci."status" IN ('queued', 'running')
   AND EXISTS (SELECT 1 FROM "contact_imports" o
                WHERE o."shop_id" = ci."shop_id" AND o."status" IN ('queued', 'running')
                  AND (o."created_at", o."id") < (ci."created_at", ci."id"));

-- The rows the survivors have not processed yet move to the staging table,
-- keeping only the known fields (a row with any other field is refused, as
-- the request now refuses it).
INSERT INTO "contact_import_rows" ("import_id", "row_index", "data", "problem")
SELECT ci."id", (r.ord - 1)::int,
       CASE WHEN ok THEN r.value END,
       CASE WHEN NOT ok THEN 'row: must be an object with only phone, country, email, firstName, lastName, smsConsent, tags' END
  FROM "contact_imports" ci
 CROSS JOIN LATERAL jsonb_array_elements(ci."rows") WITH ORDINALITY AS r(value, ord)
 CROSS JOIN LATERAL (SELECT jsonb_typeof(r.value) = 'object'
                        AND NOT EXISTS (SELECT 1 FROM jsonb_object_keys(CASE WHEN jsonb_typeof(r.value) = 'object' THEN r.value ELSE '{}'::jsonb END) k
                                         WHERE k NOT IN ('phone', 'country', 'email', 'firstName', 'lastName', 'smsConsent', 'tags')) AS ok) f
 WHERE ci."status" IN ('queued', 'running') AND ci."rows" IS NOT NULL AND r.ord - 1 >= ci."processed";

INSERT INTO "contact_import_rejections" ("import_id", "row_index", "code", "message")
SELECT ci."id", (e->>'row')::int, e->>'code', left(e->>'message', 200)
  FROM "contact_imports" ci CROSS JOIN LATERAL jsonb_array_elements(ci."rejected") e
 WHERE e ? 'row' AND e->>'code' IN ('INVALID_PHONE', 'VALIDATION_FAILED')
ON CONFLICT DO NOTHING;

UPDATE "contact_imports" ci
   SET "rejected_count" = (SELECT count(*) FROM "contact_import_rejections" r WHERE r."import_id" = ci."id")
 WHERE jsonb_array_length(ci."rejected") > 0;

ALTER TABLE "contact_imports" DROP COLUMN "rows", DROP COLUMN "rejected";

-- At most one import per shop is queued or running: a second one is refused
-- (409 IMPORT_IN_PROGRESS), so one shop cannot fill the imports queue.
CREATE UNIQUE INDEX "contact_imports_one_in_flight_per_shop_idx" ON "contact_imports"("shop_id") WHERE "status" IN ('queued', 'running');
-- Reconciliation's scan for imports in flight.
CREATE INDEX "contact_imports_in_flight_idx" ON "contact_imports"("updated_at") WHERE "status" IN ('queued', 'running');
