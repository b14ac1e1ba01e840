-- An order Shopify placed through a test gateway (the Bogus gateway, or a
-- payment provider in test mode: `"test": true` in orders/create and
-- orders/cancelled) is the merchant trying the checkout. It is stored (the
-- inbox, redaction and exports treat it like any order) but earns no campaign
-- or flow anything, moves no contact's order summary (Shopify's own customer
-- count leaves test orders out) and starts no post-purchase flow.
ALTER TABLE "shopify_orders" ADD COLUMN "test" BOOLEAN NOT NULL DEFAULT false;

-- As in 20261220200000, plus: a test order queues no post-purchase trigger
-- (the customers/* link of a late contact, a contact subscribing).
CREATE OR REPLACE FUNCTION "queue_recent_order_flow_triggers"(p_shop uuid, p_contacts uuid[], p_orders text[] DEFAULT NULL, p_trace text DEFAULT NULL)
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
           AND NOT o.test
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
