-- What a campaign's messages are rendered with besides its body: the shop's
-- name ({{shopName}}, as rendered) and its opt-out footer setting, as they
-- were when the enqueue sized the reservation (segments_per_message). The
-- send renders with these, so renaming the shop or switching the footer on
-- after the enqueue cannot make a message longer than what was reserved.
-- NULL: enqueued before this migration (or never enqueued); the shop's
-- current values are used, as before.
ALTER TABLE "campaigns"
  ADD COLUMN "shop_name_at_enqueue" TEXT,
  ADD COLUMN "opt_out_footer_at_enqueue" BOOLEAN;
