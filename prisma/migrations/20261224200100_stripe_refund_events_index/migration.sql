-- The stored `charge.refunded` events of one payment intent are read by the
-- completion (a refund seen before it), by a failed refund that gives the
-- pack back (a later refund received meanwhile takes it:
-- domain/billing/take-unapplied-refund.ts) and by a failure of another
-- refund than the one holding the pack (take-earlier-refund.ts). Without an
-- index each read walked every webhook event of every provider. Partial on
-- the Stripe refund events only: small, and only their inserts maintain it.
-- The expression is the one the queries compare. SQL-only (Prisma cannot
-- express expression or partial indexes). Plain CREATE INDEX (lib/migrator.ts
-- runs each file in a transaction): the build reads webhook_events under a
-- SHARE lock (inserts wait); where that is too long, create it CONCURRENTLY
-- by hand with this exact definition before deploying.
CREATE INDEX "webhook_events_stripe_refund_pi_idx" ON "webhook_events"
  ((("payload" -> 'data' -> 'object') ->> 'payment_intent'))
  WHERE "provider" = 'stripe' AND "topic" = 'charge.refunded';
