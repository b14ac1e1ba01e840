import { sql } from '../../lib/db';

/**
 * A run of alias `r` may take its step: a test run, or its flow live; and its
 * shop active (an uninstalled or erased shop sends nothing, its test runs
 * included). The claim requires it, and so do the step and the send mark,
 * since a job may run well after its claim (a flow paused meanwhile holds).
 * Subqueries per run, not joins: see claim-due-runs.ts for the plan it keeps.
 */
export const runMayGoOnSql = sql`(r.trigger_type = 'manual' OR (SELECT f.status FROM flows f WHERE f.id = r.flow_id AND f.shop_id = r.shop_id) = 'live')
         AND (SELECT s.status FROM shops s WHERE s.id = r.shop_id) = 'active'`;
