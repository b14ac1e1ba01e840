-- A cancelled order earns nothing (orders/cancelled, or an order created
-- already cancelled): when Shopify cancelled it. Attribution skips such an
-- order and a cancellation withdraws the attribution it had
-- (domain/orders/cancel-order.ts).
ALTER TABLE "shopify_orders" ADD COLUMN "cancelled_at" TIMESTAMPTZ(3);
