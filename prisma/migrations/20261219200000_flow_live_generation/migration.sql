-- A flow starts runs only for triggers that happened while it was live in its
-- current live period. Each activation opens a new period (live_generation + 1);
-- a trigger's outbox event records, in the transaction that writes the fact,
-- the generation of every flow live on that trigger then ('live': {flowId:
-- generation}). The flows.trigger.v1 job starts runs only in flows still on the
-- generation recorded, so a flow paused and activated again (or created and
-- activated) after the fact, but before the job ran, does not replay it.
ALTER TABLE "flows" ADD COLUMN "live_generation" INTEGER NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION "consent_records_queue_flow_trigger"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO outbox_events (event_type, aggregate_id, payload)
  SELECT 'flows.trigger.v1', r.shop_id::text,
         jsonb_build_object('kind', 'contact_subscribed', 'shopId', r.shop_id, 'recordIds', jsonb_agg(r.id::text ORDER BY r.id),
                            'live', (SELECT jsonb_object_agg(f.id::text, f.live_generation) FROM flows f
                                      WHERE f.shop_id = r.shop_id AND f.trigger_type = 'contact_subscribed' AND f.status = 'live'))
    FROM new_records r
   WHERE r.state = 'subscribed'
     AND NOT (r.source = 'shopify' AND r.evidence ? 'syncId')
     AND EXISTS (SELECT 1 FROM flows f WHERE f.shop_id = r.shop_id AND f.trigger_type = 'contact_subscribed' AND f.status = 'live')
   GROUP BY r.shop_id;
  RETURN NULL;
END $$;
