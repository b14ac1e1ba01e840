-- Reconciliation compared every wallet with the sum of its whole ledger on
-- every pass: a cost growing with history (1 M ledger rows: a full scan of
-- credit_transactions each minute). The ledger is append-only, so the sum of
-- a shop's rows up to a ledger_seq never changes once summed: each pass now
-- adds only the rows after the shop's checkpoint to the sum kept there
-- (domain/reconciliation/ledger-checkpoints.ts).

-- The sum of the shop's ledger rows 1..ledger_seq, as a pass summed it.
-- A pass moves it only over rows numbered without a gap, so no row can be
-- added below it later (the number is taken: unique (shop_id, ledger_seq)).
-- `generation` is bumped (and the sum voided) whenever a ledger row of the
-- shop is updated or deleted, which nothing but a hand edit or an erasure
-- does: the next pass sums that shop's ledger from its first row again, and
-- a pass that had read the old checkpoint cannot write a sum of rows that
-- have changed since (its write requires the generation it read). Nothing
-- fires on INSERT: the send path's appends pay nothing for this.
CREATE TABLE "credit_ledger_checkpoints" (
    "shop_id" UUID NOT NULL,
    "ledger_seq" BIGINT NOT NULL DEFAULT 0,
    "ledger_sum" BIGINT NOT NULL DEFAULT 0,
    "generation" BIGINT NOT NULL DEFAULT 0,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "credit_ledger_checkpoints_pkey" PRIMARY KEY ("shop_id"),
    CONSTRAINT "credit_ledger_checkpoints_ledger_seq_check" CHECK ("ledger_seq" >= 0)
);
ALTER TABLE "credit_ledger_checkpoints" ADD CONSTRAINT "credit_ledger_checkpoints_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE FUNCTION "credit_ledger_checkpoints_void"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- A shop being deleted (the cascade of its row) needs no checkpoint.
  INSERT INTO credit_ledger_checkpoints (shop_id, generation)
  SELECT DISTINCT o.shop_id, 1 FROM changed_rows o WHERE EXISTS (SELECT 1 FROM shops s WHERE s.id = o.shop_id)
  ON CONFLICT (shop_id) DO UPDATE
     SET ledger_seq = 0, ledger_sum = 0, generation = credit_ledger_checkpoints.generation + 1, updated_at = now();
  RETURN NULL;
END $$;

-- One trigger per event: a statement trigger with a transition table takes one event only.
CREATE TRIGGER "credit_transactions_update_voids_checkpoint" AFTER UPDATE ON "credit_transactions"
  REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION "credit_ledger_checkpoints_void"();
CREATE TRIGGER "credit_transactions_delete_voids_checkpoint" AFTER DELETE ON "credit_transactions"
  REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION "credit_ledger_checkpoints_void"();

CREATE FUNCTION "credit_ledger_checkpoints_void_all"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE credit_ledger_checkpoints SET ledger_seq = 0, ledger_sum = 0, generation = generation + 1, updated_at = now();
  RETURN NULL;
END $$;
CREATE TRIGGER "credit_transactions_truncate_voids_checkpoints" AFTER TRUNCATE ON "credit_transactions"
  FOR EACH STATEMENT EXECUTE FUNCTION "credit_ledger_checkpoints_void_all"();

-- A pass reads the rows after a checkpoint's ledger_seq: every row must be
-- numbered 1, 2, … (docs/credits.md), so a row written by hand with a
-- number at or below 0 cannot hide below a checkpoint (a one-off scan of the
-- table under this migration's lock: under a second per million rows).
ALTER TABLE "credit_transactions" ADD CONSTRAINT "credit_transactions_ledger_seq_check" CHECK ("ledger_seq" > 0);

-- The same pass compares each wallet's reserved with its active
-- reservations: found through this index instead of every reservation the
-- shop ever had (one per campaign).
CREATE INDEX "credit_reservations_active_shop_idx" ON "credit_reservations" ("shop_id") WHERE "status" = 'active';
