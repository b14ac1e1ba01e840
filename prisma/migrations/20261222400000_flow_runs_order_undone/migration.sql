-- A post-purchase run ends when its order is cancelled (`order_cancelled`) or
-- refunded in full (`order_refunded`) before its next message (docs/flows.md,
-- "When the order is cancelled or refunded").
ALTER TABLE "flow_runs"
    DROP CONSTRAINT "flow_runs_exit_reason_check",
    ADD CONSTRAINT "flow_runs_exit_reason_check" CHECK (
      ("status" = 'exited') = ("exit_reason" IS NOT NULL)
      AND ("exit_reason" IS NULL OR "exit_reason" IN ('order_placed', 'opted_out', 'condition', 'not_sendable', 'contact_erased', 'flow_deleted', 'shop_uninstalled',
                                                      'order_cancelled', 'order_refunded')));
