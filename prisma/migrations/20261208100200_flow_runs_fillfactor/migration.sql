-- A due run is claimed (claim_token, lease_until, attempt: no index names
-- them) before its step is settled. On pages filled to the brim the claim
-- could not stay on its page, so it was a non-HOT update through all seven
-- indexes of flow_runs; with room left on each page it is heap-only. Pages
-- written from now on keep 30 % free (no rewrite: existing pages gain the
-- room as VACUUM frees it).
ALTER TABLE "flow_runs" SET (fillfactor = 70);
