-- Shopify does not order its webhooks: orders/create often comes before the
-- customers/create that makes its contact, and the customer's SMS consent may
-- come seconds after checkout. An order stored with no contact, or with one not
-- subscribed yet, used to start no post-purchase (order_created) flow ever.
--
-- queue_recent_order_flow_triggers writes one flows.trigger.v1 'order_created'
-- event per recent order of the given contacts (the same event orders/create
-- writes, so the same job, the same checks and the same unique key per flow,
-- contact and order: a run starts at most once whichever path queues it, and
-- however often). Bounded: only contacts subscribed and not erased now, only
-- orders placed within the last 24 hours, at most the 5 newest per contact,
-- and only flows live on order_created whose current live period began by the
-- time the order was received (an activation replays nothing before it).
-- p_orders, when given, narrows to those orders (the ones just linked);
-- p_trace is the events' trace id (the webhook's), if any.
-- Called by the consent record trigger below (a contact subscribing) and by
-- the customers/* webhook once it links the customer's orders
-- (domain/orders/link-customer-orders.ts).
CREATE FUNCTION "queue_recent_order_flow_triggers"(p_shop uuid, p_contacts uuid[], p_orders text[] DEFAULT NULL, p_trace text DEFAULT NULL)
RETURNS SETOF bigint LANGUAGE sql AS $$
  WITH live AS (
    SELECT f.id, f.live_generation, f.activated_at FROM flows f
     WHERE f.shop_id = p_shop AND f.trigger_type = 'order_created' AND f.status = 'live'
  ), recent AS (
    SELECT o.order_id, o.received_at
      FROM contacts c
      CROSS JOIN LATERAL (
        SELECT o.order_id, o.received_at FROM shopify_orders o
         WHERE o.contact_id = c.id AND o.shop_id = p_shop
           AND o.ordered_at > now() - interval '24 hours'
           AND (p_orders IS NULL OR o.order_id = ANY(p_orders))
         ORDER BY o.ordered_at DESC LIMIT 5) o
     WHERE c.id = ANY(p_contacts) AND c.shop_id = p_shop AND c.sms_consent = 'subscribed' AND c.erased_at IS NULL
  )
  INSERT INTO outbox_events (event_type, aggregate_id, payload, trace_id)
  SELECT 'flows.trigger.v1', p_shop::text,
         jsonb_build_object('kind', 'order_created', 'shopId', p_shop, 'orderId', r.order_id, 'live', l.live), p_trace
    FROM recent r
    CROSS JOIN LATERAL (SELECT jsonb_object_agg(live.id::text, live.live_generation) AS live FROM live
                         WHERE live.activated_at <= r.received_at) l
   WHERE l.live IS NOT NULL
  RETURNING id
$$;

-- As in 20261219200000, plus: a contact subscribing (not a resync restating
-- it) queues the post-purchase trigger of its recent orders, when the shop
-- has a live order_created flow.
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

  PERFORM 1
     FROM (SELECT r.shop_id, array_agg(DISTINCT r.contact_id) AS contact_ids
             FROM new_records r
            WHERE r.state = 'subscribed'
              AND NOT (r.source = 'shopify' AND r.evidence ? 'syncId')
              AND EXISTS (SELECT 1 FROM flows f WHERE f.shop_id = r.shop_id AND f.trigger_type = 'order_created' AND f.status = 'live')
            GROUP BY r.shop_id) s
     CROSS JOIN LATERAL queue_recent_order_flow_triggers(s.shop_id, s.contact_ids) q;
  RETURN NULL;
END $$;
