-- Which refunds took a purchase's credits, in any round, so that a
-- `charge.refunded` of a refund already undone by its failure (an operator's
-- replay of the processed event, or Stripe sending it again) is not taken
-- for a new refund once the purchase is `paid` again. A refund is known by
-- Stripe's refund ids (re_…) when the charge lists them (`refunds.data`,
-- which webhook endpoints on API versions from 2022-11-15 leave out), else
-- by its event: `event:<evt_…>`.
ALTER TABLE "purchases" ADD COLUMN "refund_keys" TEXT[] NOT NULL DEFAULT '{}';

-- The keys of one stored `charge.refunded` event; the one definition the
-- refund, the completion that sees a refund, and the backfill below use.
CREATE FUNCTION stripe_charge_refund_keys(event_id TEXT, payload JSONB) RETURNS TEXT[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN cardinality(ids) > 0 THEN ids ELSE ARRAY['event:' || event_id] END
    FROM (SELECT ARRAY(
            SELECT DISTINCT r->>'id'
              FROM jsonb_array_elements(CASE WHEN jsonb_typeof(payload->'data'->'object'->'refunds'->'data') = 'array'
                                             THEN payload->'data'->'object'->'refunds'->'data' ELSE '[]'::jsonb END) r
             WHERE jsonb_typeof(r->'id') = 'string' AND r->>'id' <> ''
             ORDER BY 1) AS ids) k
$$;

-- Refunds processed before this column: every full `charge.refunded` already
-- processed for a purchase's payment took it or found it taken, so a replay of
-- one must not take it again.
UPDATE "purchases" p
   SET "refund_keys" = k.keys
  FROM (SELECT e.payload->'data'->'object'->>'payment_intent' AS pi,
               array_agg(DISTINCT key ORDER BY key) AS keys
          FROM "webhook_events" e
         CROSS JOIN LATERAL unnest(stripe_charge_refund_keys(e.event_id, e.payload)) AS key
         WHERE e.provider = 'stripe' AND e.topic = 'charge.refunded' AND e.status = 'processed'
           AND e.payload->'data'->'object'->'refunded' = 'true'::jsonb
         GROUP BY 1) k
 WHERE p."stripe_payment_intent_id" = k.pi;
