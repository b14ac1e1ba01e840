-- A Stripe dispute of a purchase's payment. While it is open the disputed
-- credits are held (a credit_reservations row keyed `dispute-<dispute id>`,
-- no campaign, no expiry), so they cannot be spent before it closes: won
-- releases them, lost takes them (domain/billing/open-dispute.ts,
-- close-dispute.ts). One row per dispute, whatever order or how often its
-- events arrive: `status` only leaves `open`, and a dispute closed before
-- its opening event was seen is recorded closed, so that event holds nothing.
-- `shop_id` is null until a paid purchase carries the payment intent.
CREATE TABLE "stripe_disputes" (
    "stripe_dispute_id" TEXT NOT NULL,
    "stripe_payment_intent_id" TEXT NOT NULL,
    "shop_id" UUID,
    "status" TEXT NOT NULL,
    -- The disputed amount (minor units, the charge's currency); null when the event did not say: the whole pack.
    "amount" INTEGER,
    -- Disputed credits the hold could not take (campaigns held them): released reservations pay it (collect-dispute-hold-shortfall.ts).
    "hold_shortfall" BIGINT NOT NULL DEFAULT 0,
    "held_at" TIMESTAMPTZ(3),
    "closed_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
    CONSTRAINT "stripe_disputes_pkey" PRIMARY KEY ("stripe_dispute_id"),
    CONSTRAINT "stripe_disputes_shop_id_fkey" FOREIGN KEY ("shop_id") REFERENCES "shops"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "stripe_disputes_status_check" CHECK ("status" IN ('open', 'won', 'lost')),
    CONSTRAINT "stripe_disputes_amount_check" CHECK ("amount" IS NULL OR "amount" >= 0),
    CONSTRAINT "stripe_disputes_hold_shortfall_check" CHECK ("hold_shortfall" >= 0),
    -- A closed dispute owes its hold nothing: won gives the credits back, lost moved the debt to the purchase's refund_shortfall.
    CONSTRAINT "stripe_disputes_closed_check" CHECK ("status" = 'open' OR ("hold_shortfall" = 0 AND "closed_at" IS NOT NULL))
);
CREATE INDEX "stripe_disputes_stripe_payment_intent_id_idx" ON "stripe_disputes"("stripe_payment_intent_id");
CREATE INDEX "stripe_disputes_shop_id_idx" ON "stripe_disputes"("shop_id");

