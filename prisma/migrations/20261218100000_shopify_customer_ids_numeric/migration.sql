-- The install sync stored a customer by its GraphQL id (gid://shopify/Customer/123),
-- the customers/* webhooks, orders and checkouts by its numeric id (123): a
-- webhook did not find the contact the sync made. The sync now stores the
-- numeric id (domain/shop-sync/bulk-customer.ts, customerIdOf); the contacts it
-- stored before take theirs, unless the shop already holds a contact under the
-- numeric id (the duplicate that bug made: left as it is, for the merchant).
UPDATE contacts c
   SET shopify_customer_id = substring(c.shopify_customer_id FROM '^gid://shopify/Customer/([0-9]+)$'), updated_at = now()
 WHERE c.shopify_customer_id ~ '^gid://shopify/Customer/[0-9]+$'
   AND NOT EXISTS (
     SELECT 1 FROM contacts d
      WHERE d.shop_id = c.shop_id AND d.shopify_customer_id = substring(c.shopify_customer_id FROM '^gid://shopify/Customer/([0-9]+)$'));
