-- What took a refunded purchase's credits: a full refund or a lost dispute.
-- Only a refund's claw-back is undone when a refund fails (null: refunded
-- before this column existed, left to the runbook).
ALTER TABLE "purchases" ADD COLUMN "refund_cause" TEXT;
ALTER TABLE "purchases" ADD CONSTRAINT "purchases_refund_cause_check" CHECK ("refund_cause" IN ('refund', 'dispute'));
-- The Stripe refunds (re_…) whose failure (or cancellation) gave the credits
-- back, each once. Their count numbers the purchase's refund rounds, so the
-- ledger keys of a later refund never collide with an earlier round's.
ALTER TABLE "purchases" ADD COLUMN "failed_refund_ids" TEXT[] NOT NULL DEFAULT '{}';
