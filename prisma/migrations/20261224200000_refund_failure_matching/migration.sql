-- A refund's failure undoes only the take of its own refund (docs/credits.md,
-- "Refunds that fail"), matched by Stripe's refund id where the events carry
-- it, else by time on both sides: the refund was made (its `created`) at or
-- before the take's event, and failed at or after it.

-- Stripe's time (`created`) of the `charge.refunded` that took the pack in
-- the current round; null when not refunded, or taken with no time known.
ALTER TABLE "purchases" ADD COLUMN "refund_made_at" TIMESTAMPTZ(3);

-- When Stripe made the failed refund (the Refund's `created`); null when the
-- event did not say.
ALTER TABLE "stripe_refund_failures" ADD COLUMN "refund_made_at" TIMESTAMPTZ(3);

-- A refund the charge lists as failed or cancelled when Stripe made the event
-- (a partial refund that failed before this full one) took nothing: it is
-- not one of the event's refunds, so its failure is never paired with it.
CREATE OR REPLACE FUNCTION stripe_charge_refund_keys(event_id TEXT, payload JSONB) RETURNS TEXT[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN cardinality(ids) > 0 THEN ids ELSE ARRAY['event:' || event_id] END
    FROM (SELECT ARRAY(
            SELECT DISTINCT r->>'id'
              FROM jsonb_array_elements(CASE WHEN jsonb_typeof(payload->'data'->'object'->'refunds'->'data') = 'array'
                                             THEN payload->'data'->'object'->'refunds'->'data' ELSE '[]'::jsonb END) r
             WHERE jsonb_typeof(r->'id') = 'string' AND r->>'id' <> ''
               AND COALESCE(r->>'status', '') NOT IN ('failed', 'canceled')
             ORDER BY 1) AS ids) k
$$;
