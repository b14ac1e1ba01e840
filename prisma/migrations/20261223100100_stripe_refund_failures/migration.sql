-- Every failed (or cancelled) Stripe refund seen, once per refund, whatever
-- the order of its events: Stripe does not promise `charge.refunded` before
-- the refund's failing `charge.refund.updated`. A failure processed while
-- its refund has not taken the pack yet (the purchase `paid`, or no
-- purchase yet) is recorded `waiting`; the refund's `charge.refunded` (or
-- the completion that sees the refund) then takes the pack and gives it
-- back in the same transaction, as the failure would have, and the row
-- becomes `restored` (domain/billing/refund-failures.ts). `failed_at` is
-- Stripe's time of the failure event (its `created`): a failure only waits
-- for a refund Stripe made at or before it, so a later refund of the
-- payment is never undone by an older failure. `not_taken`: a lost dispute
-- took the pack, which no refund's failure gives back.
CREATE TABLE "stripe_refund_failures" (
    "stripe_refund_id" TEXT NOT NULL,
    "stripe_payment_intent_id" TEXT NOT NULL,
    -- Null until a purchase carries the payment; the shop's erasure takes it from then.
    "shop_id" UUID,
    "status" TEXT NOT NULL DEFAULT 'waiting',
    "failed_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "stripe_refund_failures_pkey" PRIMARY KEY ("stripe_refund_id"),
    CONSTRAINT "stripe_refund_failures_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "stripe_refund_failures_status_check" CHECK ("status" IN ('waiting', 'restored', 'not_taken'))
);
CREATE INDEX "stripe_refund_failures_stripe_payment_intent_id_idx" ON "stripe_refund_failures"("stripe_payment_intent_id");
CREATE INDEX "stripe_refund_failures_shop_id_idx" ON "stripe_refund_failures"("shop_id");
