import { sql, type Sql } from '../../lib/db';

/**
 * True unless `flowId` (a column that may be null) names a flow marked
 * `deleted`. A deleted flow's messages and clicks stay until its history job
 * erases them (erase-deleted-flow.ts); meanwhile they must not win an order's
 * attribution, which that job would then delete with them, leaving the order
 * attributed to nothing. One primary-key probe of flows per candidate.
 */
export function notOfDeletedFlowSql(flowId: Sql): Sql {
  return sql`(${flowId} IS NULL OR NOT EXISTS (SELECT 1 FROM flows df WHERE df.id = ${flowId} AND df.status = 'deleted'))`;
}
