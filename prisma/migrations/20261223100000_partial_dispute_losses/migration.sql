-- A lost dispute takes the pack's disputed share (the credits its hold
-- covers: disputedCredits, rounded up as the hold is), not the whole pack,
-- once per dispute (domain/billing/take-lost-disputes.ts). A dispute for the
-- rest of the pack (or the whole price) is still the purchase's full
-- claw-back (purchases.refund_cause = 'dispute'): these columns stay empty.
-- `loss_credits`: the share taken, set once (the guard of exactly-once: a
-- repeated or concurrent closing, a completion or a restore finds it set);
-- null while open, won, a full loss, or lost before a paid purchase carried
-- the payment (the completion takes it then). A later full refund of the
-- payment takes the pack less these shares.
ALTER TABLE "stripe_disputes" ADD COLUMN "loss_credits" BIGINT;
-- What of the share the wallet could not give (campaigns held it, or it was
-- spent): released reservations that existed at the loss pay it
-- (collect-dispute-loss-shortfall.ts), as a refund's shortfall is paid.
ALTER TABLE "stripe_disputes" ADD COLUMN "loss_shortfall" BIGINT NOT NULL DEFAULT 0;
ALTER TABLE "stripe_disputes" ADD COLUMN "loss_taken_at" TIMESTAMPTZ(3);
ALTER TABLE "stripe_disputes" ADD CONSTRAINT "stripe_disputes_loss_check" CHECK (
    ("loss_credits" IS NULL AND "loss_taken_at" IS NULL AND "loss_shortfall" = 0)
    OR ("status" = 'lost' AND "loss_credits" >= 0 AND "loss_taken_at" IS NOT NULL AND "loss_shortfall" BETWEEN 0 AND "loss_credits")
);
