-- A claim takes up to 1 000 runs in one statement, and runs triggered
-- together sit together: every run of a page is claimed at once, so its old
-- versions cannot be pruned until the claim commits and every new version
-- must fit in the page's free room to stay heap-only. At 70 % fill a page of
-- ~30 runs had room for ~12 (pg_stat_user_tables: 38 % of a 100 000-run
-- burst's claims were HOT; the rest wrote an entry in each of seven indexes).
-- At 50 % a page holds ~21 runs and room for a new version of each; the
-- settle that follows prunes the claim's old versions and finds the room again.
ALTER TABLE "flow_runs" SET (fillfactor = 50);
