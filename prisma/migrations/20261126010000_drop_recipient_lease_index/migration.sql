-- Every query that looks for live or stale leases does so per campaign and
-- batch (claims, the lease wait, reconciliation, inspection, cancel), which
-- campaign_recipients_open_idx serves. The lease index served none of them;
-- it took an entry on every claim, and, full of dead entries where nothing
-- vacuums, it was what the planner chose for the settle's UPDATE (its
-- predicate `status = 'sending'` matches the settle's guard): a scan of every
-- claim ever made, 145 ms per settle by the end of a million-recipient
-- campaign instead of a thousand primary-key probes.
DROP INDEX "campaign_recipients_lease_idx";
