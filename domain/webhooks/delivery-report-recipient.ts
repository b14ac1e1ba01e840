import { raw, sql, type Sql } from '../../lib/db';

// How a delivery report finds its recipient. Every campaign message is sent
// with our client reference `r<recipient id>`, which the provider echoes in
// its reports: the primary key finds the row, and the report's provider id
// must be the row's (or the row has none yet: an `unknown` send). There is
// no index on provider_message_id: the settle writes that column, and an
// index on it would make every settle a non-HOT update (a new row version on
// another page plus an entry in every index; docs/performance.md, "Storage").
//
// A report without our reference (a provider that drops it, or a message
// that is not ours) is looked for by provider id, without an index, among
// the recipients of campaigns active within the window below only: reports
// come within hours of the send, and this keeps such a lookup from scanning
// every recipient ever sent. Later, it is not matched (retried, then dropped).

/** Campaigns whose recipients a report without our reference may belong to. */
export const UNREFERENCED_REPORT_WINDOW = '72 hours';

/** `alias.campaign_id` names a campaign active within the window. */
export function recentCampaignSql(alias: string): Sql {
  const a = raw(`"${alias.replace(/"/g, '')}"`);
  return sql`${a}.campaign_id IN (SELECT id FROM campaigns WHERE last_activity_at > now() - ${UNREFERENCED_REPORT_WINDOW}::interval)`;
}
