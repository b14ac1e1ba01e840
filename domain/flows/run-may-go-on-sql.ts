import { sql } from '../../lib/db';

/**
 * A run of alias `r` may take its step: its flow live, or, for a test run, its
 * flow not deleted (a test of a draft goes on; a deleted flow's runs stop at
 * the mark, before the deletion job ends them); and its shop active (an
 * uninstalled or erased shop sends nothing, its test runs included). The
 * claim requires it, and so do the step and the send mark, since a job may
 * run well after its claim (a flow paused meanwhile holds). Subqueries per
 * run, not joins: see claim-due-runs.ts for the plan it keeps.
 */
export const runMayGoOnSql = sql`(SELECT CASE WHEN r.trigger_type = 'manual' THEN f.status <> 'deleted' ELSE f.status = 'live' END
            FROM flows f WHERE f.id = r.flow_id AND f.shop_id = r.shop_id)
         AND (SELECT s.status FROM shops s WHERE s.id = r.shop_id) = 'active'`;
