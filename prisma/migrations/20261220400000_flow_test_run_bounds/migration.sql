-- Flow test runs and sends: bounds and endings (docs/flows.md).
--
-- 1. app/uninstalled ends the shop's test runs (`exited`/`shop_uninstalled`):
--    they go on whatever their flow's status, so a test run held by the
--    uninstall used to text its contact again the moment the shop was
--    re-installed, while every flow stayed paused.
ALTER TABLE "flow_runs"
    DROP CONSTRAINT "flow_runs_exit_reason_check",
    ADD CONSTRAINT "flow_runs_exit_reason_check" CHECK (
      ("status" = 'exited') = ("exit_reason" IS NOT NULL)
      AND ("exit_reason" IS NULL OR "exit_reason" IN ('order_placed', 'opted_out', 'condition', 'not_sendable', 'contact_erased', 'flow_deleted', 'shop_uninstalled')));

-- 2. A send step whose recipient's quiet hours (the shop's window in their
--    zones, the US/CA floor in theirs) leave no instant to send within the
--    search bound is skipped (`quiet_hours`) and its run ends, instead of
--    being deferred again and again forever.
ALTER TABLE "flow_messages"
    DROP CONSTRAINT "flow_messages_skip_reason_check",
    ADD CONSTRAINT "flow_messages_skip_reason_check" CHECK (
      ("status" = 'skipped') = ("skip_reason" IS NOT NULL)
      AND ("skip_reason" IS NULL OR "skip_reason" IN ('frequency_cap', 'not_sendable', 'suppressed', 'no_checkout_url', 'empty_message', 'too_long', 'quiet_hours')));

-- 3. Test runs are bounded per flow in flight and per shop per hour, counted
--    under the flow's lock on these two small partial indexes (test runs
--    only: a live flow's million runs are not read to count a merchant's
--    few tests). The first also finds the shop's test runs to end at uninstall.
CREATE INDEX "flow_runs_test_active_idx" ON "flow_runs"("shop_id", "flow_id") WHERE "trigger_type" = 'manual' AND "status" = 'active';
CREATE INDEX "flow_runs_test_started_idx" ON "flow_runs"("shop_id", "created_at") WHERE "trigger_type" = 'manual';
