import { raw, sql, type Sql } from '../../lib/db';

// campaign_recipients has no index on status (any index naming a column the
// settle writes would make every settle a non-HOT update): open rows are
// looked for per batch, through the index on (campaign_id, batch_no), and per
// campaign only in batches not yet marked done.

const ident = (alias: string) => raw(`"${alias.replace(/"/g, '')}"`);

/** True while batch `b` (a campaign_batches alias) has a recipient pending or left `sending` (a claim of its own). */
export function batchHasOpenRowsSql(b: string): Sql {
  const B = ident(b);
  return sql`EXISTS (SELECT 1 FROM campaign_recipients open_r
                      WHERE open_r.campaign_id = ${B}.campaign_id AND open_r.batch_no = ${B}.batch_no AND open_r.status IN ('pending', 'sending'))`;
}

/**
 * True while the campaign has an open recipient, looked for only in batches
 * not yet marked done. Exact: a batch is marked done only once it has no open
 * recipient, and none can reopen (statuses only move forward; `sending →
 * pending` stays open).
 */
export function campaignHasOpenRowsSql(campaignId: Sql): Sql {
  return sql`EXISTS (SELECT 1 FROM campaign_batches open_b
                      WHERE open_b.campaign_id = ${campaignId} AND open_b.status = 'pending' AND ${batchHasOpenRowsSql('open_b')})`;
}

/**
 * A recipient's status as reported (stats, inspection): a pending row of a
 * claimed batch is in flight, i.e. `sending`, though only the batch row says so.
 */
export function recipientStatusSql(r: string, b: string): Sql {
  const R = ident(r);
  const B = ident(b);
  return sql`CASE WHEN ${R}.status = 'pending' AND ${B}.claim_token IS NOT NULL THEN 'sending' ELSE ${R}.status END`;
}
