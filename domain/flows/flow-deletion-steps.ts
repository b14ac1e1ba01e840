import { sql, type Sql } from '../../lib/db';
import type { ErasureStep } from '../privacy/shop-erasure-steps';

const ofFlow = (flowId: string): Sql => sql`flow_id = ${flowId}::uuid`;

/**
 * A deleted flow's history, children before parents, each table through an
 * index leading with flow_id, so that when the flow row goes last its
 * cascades find only what arrived meanwhile: attributions first (they name
 * the flow's messages, whose deletion would otherwise SET NULL them one by
 * one), then clicks, messages, and runs (the runs' statement trigger
 * flow_runs_delete_messages then finds no message left). The versions go
 * with the flow row (its current version cannot go before it).
 */
export const FLOW_DELETION_STEPS: readonly ErasureStep[] = [
  { table: 'order_attributions', rows: ofFlow },
  { table: 'link_clicks', rows: ofFlow },
  { table: 'flow_messages', rows: ofFlow },
  { table: 'flow_runs', rows: ofFlow },
];
