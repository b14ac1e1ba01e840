-- Reconciliation looks for keyword replies left open (a job lost with Redis,
-- a worker that died mid-send): only open rows, oldest first.
CREATE INDEX "keyword_replies_open_idx" ON "keyword_replies"("created_at") WHERE "status" IN ('pending', 'sending');
