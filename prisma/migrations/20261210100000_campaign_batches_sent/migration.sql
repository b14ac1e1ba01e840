-- Messages of a batch that went out (accepted by the provider, delivered or
-- not: the rows with a sent_at). The campaigns list shows every campaign's
-- click rate and revenue per message, and counting those rows per request
-- read every recipient of every clicked campaign on the page (about 0.7 s
-- per million-recipient campaign). The settle that sends them adds them here,
-- in the statement that ends the batch's claim, and settling an `unknown`
-- recipient as sent or delivered adds it; nothing ever takes one away.
ALTER TABLE "campaign_batches" ADD COLUMN "sent" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "campaign_batches" ADD CONSTRAINT "campaign_batches_sent_check" CHECK ("sent" >= 0);

UPDATE "campaign_batches" b SET "sent" = x.n
  FROM (SELECT campaign_id, batch_no, count(*)::int AS n FROM "campaign_recipients"
         WHERE sent_at IS NOT NULL GROUP BY 1, 2) x
 WHERE b.campaign_id = x.campaign_id AND b.batch_no = x.batch_no;
