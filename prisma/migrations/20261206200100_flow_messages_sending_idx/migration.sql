-- Messages still `sending` (written before the provider call, final once the
-- attempt settles): reconciliation finds the ones whose run ended or moved on
-- meanwhile (a STOP or an order while a killed worker held the claim), which
-- no later claim of the run will revisit, and records them final
-- (docs/flows.md "Operations"). Only the few rows in flight are in it.
CREATE INDEX "flow_messages_sending_idx" ON "flow_messages"("created_at") WHERE "status" = 'sending';
