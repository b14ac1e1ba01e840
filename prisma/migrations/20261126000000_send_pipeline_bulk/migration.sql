-- The send pipeline at bulk rates (docs/performance.md has the measurements).

-- A recipient row is only ever inserted by the launch, from `contacts` in the
-- same statement, and a contact is only ever deleted together with its shop,
-- which deletes the shop's campaigns and, through
-- campaign_recipients_campaign_id_fkey, their recipients. The contact foreign
-- key therefore protected nothing, while its per-row check (a FOR KEY SHARE
-- lock, and a WAL record, on every contact of the audience) was ~40% of the
-- time it takes to materialise a campaign.
ALTER TABLE "campaign_recipients" DROP CONSTRAINT "campaign_recipients_contact_id_fkey";

-- provider_message_id stays NULL until the provider accepts the message: the
-- unique index need not hold an entry for every row the launch and each claim
-- write. Lookups by a provider message id (delivery reports) still use it.
DROP INDEX "campaign_recipients_provider_message_id_key";
CREATE UNIQUE INDEX "campaign_recipients_provider_message_id_key" ON "campaign_recipients"("provider_message_id") WHERE "provider_message_id" IS NOT NULL;

-- The campaign foreign key checked every inserted row against a campaign the
-- launch holds locked (FOR UPDATE) while it inserts: a million checks, a
-- quarter of materialising a million-recipient campaign, for rows that cannot
-- name another campaign. What it also gave, the cascade from a deleted
-- campaign (campaigns go with their shop), stays: a statement-level trigger
-- deletes the recipients of the campaigns a statement deleted.
ALTER TABLE "campaign_recipients" DROP CONSTRAINT "campaign_recipients_campaign_id_fkey";
CREATE FUNCTION "campaigns_delete_recipients"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "campaign_recipients" r USING gone g WHERE r."campaign_id" = g."id";
  RETURN NULL;
END
$$;
CREATE TRIGGER "campaigns_delete_recipients" AFTER DELETE ON "campaigns"
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION "campaigns_delete_recipients"();

-- The batches of a campaign that still have work: the completion pre-check
-- after every settled batch and the batch-job enqueue read only these.
CREATE INDEX "campaign_batches_open_idx" ON "campaign_batches"("campaign_id", "batch_no") WHERE "status" = 'pending';
